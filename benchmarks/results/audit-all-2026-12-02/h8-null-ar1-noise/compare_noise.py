"""Compare a hypothesis' null worlds (first argument, default H8) in the audit of record with the AR(1)-noise refits."""
import json
import sys
from pathlib import Path

import pandas as pd

w = pd.read_csv('studies/hjs-2025/audit/audit_worlds.csv', keep_default_na=False)
args = sys.argv[1:]
hyp = args.pop(0) if not args[0].endswith('.jsonl') else 'H8'
b = w[(w.hypothesis == hyp) & (w.kind == 'null')].set_index('world')
rows = [json.loads(line) for f in args for line in Path(f).read_text().splitlines()]
n = pd.DataFrame(rows).set_index('world').sort_index()
n = n[~n.index.duplicated(keep='last')]
c = pd.DataFrame({
    'base_mean': b.pct_mean, 'base_lo': b.hdi_low, 'base_hi': b.hdi_high, 'base_p': b.p_direction, 'base_grade': b.grade,
    'ar_mean': n.pct_mean, 'ar_lo': n.hdi_low, 'ar_hi': n.hdi_high, 'ar_p': n.p_direction, 'ar_grade': n.grade,
    'ar_div': n.divergences, 'ar_rhat': n.rhat_max, 'ar_s': n.fit_seconds}).dropna(subset=['ar_mean'])
print(c.round(3).to_string())
for k in ('base', 'ar'):
    width = c[f'{k}_hi'] - c[f'{k}_lo']
    cover = ((c[f'{k}_lo'] <= 0) & (c[f'{k}_hi'] >= 0)).mean()
    fp = c[f'{k}_grade'].isin(['moderate', 'strong', 'contrary']).sum()
    print(k, 'n', len(c), 'FP', fp, 'cover0', round(cover, 3), 'sd means', round(c[f'{k}_mean'].std(), 1),
          'median width', round(width.median(), 1), 'ratio', round(c[f'{k}_mean'].std() / (width.median() / 3.29), 2))
