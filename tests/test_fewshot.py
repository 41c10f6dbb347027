"Few-shot NAS as an arm of a ranking run, from the command line: split, train the parts, rank, resume, search, export."
import json
import torch

from test_workflow import TOY, cli   # the same toy settings and CLI runner as the workflow test

ARM = "sbn+fewshot(point=0, epochs=1)"

def test_fewshot_arm_end_to_end(tmp_path):
    run = tmp_path/'rank'
    out = cli('rank', '-q', '--out', run, '--set', f'norms=("{ARM}",)', *TOY)
    assert ARM in out
    arm_dir = next(run.glob('train_sbn+fewshot*'))
    parts = sorted((arm_dir/'fewshot').glob('split*'))
    assert [p.name for p in parts] == [f'split{j}' for j in range(5)]          # one part per op of edge 0
    for j, p in enumerate(parts):                                             # each part trained only its own op on edge 0
        recs = [json.loads(l) for l in (p/'history.jsonl').read_text().splitlines()]
        archs = {r['arch'].split('|')[1] for r in recs if r.get('arch')}
        assert len(archs) == 1, archs
    summary = json.loads((run/'summary.json').read_text())
    assert set(summary['kendall']) == {ARM, f'{ARM} + synflow (hybrid)'}   # its ranking and its hybrid with SynFlow
    # the parts really differ from the one-shot supernet they were split from
    one = torch.load(arm_dir/'checkpoints'/'last.pt', weights_only=True)['model']
    part = torch.load(parts[0]/'checkpoints'/'last.pt', weights_only=True)['model']
    assert any(not torch.equal(one[k], part[k]) for k in one)
    # a rerun resumes everything: no history grows
    before = {p: (p/'history.jsonl').read_text() for p in parts}
    cli('rank', '-q', '--out', run, '--set', f'norms=("{ARM}",)', *TOY)
    assert all((p/'history.jsonl').read_text() == h for p, h in before.items())
    # search and export work on the few-shot net (it scores each arch with the part that owns it)
    s = tmp_path/'search'
    out = cli('search', run, '-q', '--norm', ARM, '--out', s, '--mflops', 60, '--budget', 8, '--pop', 4, '--generations', 2)
    assert 'Pareto front' in out and (s/'best_subnet.pt').exists()
