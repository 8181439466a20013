"""How often "best against weakest" names a winner among equal campaigns.

Usage::

    python benchmarks/bench_false_winners.py               # 20,000 trials per k
    python benchmarks/bench_false_winners.py --trials 2000 --exports 100

Every campaign has the same true click rate (14%) and the same number of
delivered messages (1,000), so any "significant" best-worst gap is a false
winner. For k = 2, 4 and 10 campaigns the script draws the clicks, picks the
best and the weakest rate, and counts how often Fisher's exact p-value
(``connectly_nb._stats.fisher_exact``, the test ``compare`` and
``best_and_worst`` use) is below 0.05:

- unadjusted: the p-value of the picked pair as it is;
- adjusted: multiplied by the ``k (k - 1) / 2`` pairs (what ``best_and_worst``
  does), which keeps the rate at or below 5%.

``--exports N`` then runs :func:`connectly_nb.metrics.best_and_worst` itself
on N generated exports with 4 campaigns, to show the function gives the
adjusted figure, not only the formula.
"""

from __future__ import annotations

import argparse
import io
import json

import numpy as np

import connectly_nb as cnb
from connectly_nb._stats import fisher_exact

RATE, N, ALPHA = 0.14, 1_000, 0.05
HEADER = (
    "customer_external_id,business_id,campaign_name,sendout_id,cnt_session_id,sent_at,"
    "delivered_at,read_at,opt_out_at,error_code,error_msg,button_clicks,link_clicks,"
    "input_variables,output_variables\n"
)


def simulate(k: int, trials: int, rng: np.random.Generator) -> tuple[float, float]:
    """Share of trials with a false winner: (unadjusted, adjusted)."""
    pairs = k * (k - 1) // 2
    raw = adjusted = 0
    for clicks in rng.binomial(N, RATE, size=(trials, k)):
        p = fisher_exact(int(clicks.min()), N, int(clicks.max()), N)
        raw += p < ALPHA
        adjusted += min(1.0, p * pairs) < ALPHA
    return raw / trials, adjusted / trials


def export_of(clicks: np.ndarray) -> cnb.Export:
    """An export of ``len(clicks)`` campaigns of N delivered messages each."""
    out = io.StringIO(HEADER)
    out.seek(0, io.SEEK_END)
    button = json.dumps([{"id": "b1", "name": "Buy", "ts": "2024-11-01 10:05:00"}])
    button = '"' + button.replace('"', '""') + '"'
    for c, n_clicks in enumerate(clicks):
        for i in range(N):
            click = button if i < n_clicks else "[]"
            out.write(
                f"+55119{c:02d}{i:05d},b,Campaign {c},s{c},x,2024-11-01 10:00:00,"
                f"2024-11-01 10:00:02,2024-11-01 10:01:00,,,,{click},[],{{}},{{}}\n"
            )
    out.seek(0)
    return cnb.read_export(out, progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20_000)
    parser.add_argument("--exports", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{N:,} delivered messages per campaign, true click rate {RATE:.0%}, alpha {ALPHA}")
    print(f"{'campaigns':>9}  {'trials':>7}  {'unadjusted':>10}  {'adjusted':>8}")
    for k in (2, 4, 10):
        raw, adjusted = simulate(k, args.trials, rng)
        print(f"{k:>9}  {args.trials:>7,}  {raw:>10.1%}  {adjusted:>8.1%}")
    if args.exports:
        significant = 0
        for clicks in rng.binomial(N, RATE, size=(args.exports, 4)):
            row = cnb.best_and_worst(export_of(clicks)).iloc[0]
            significant += bool(row["significant"])
        print(
            f"best_and_worst on {args.exports} generated exports of 4 equal campaigns: "
            f"a winner named in {significant / args.exports:.1%}"
        )


if __name__ == "__main__":
    main()
