"Two CPU processes under torchrun (gloo) train like one process with the same global batch."
import json, os, subprocess, sys
from pathlib import Path
import torch
from mixpath_lab.core import RunDir
from mixpath_lab.train import Trainer

sys.path.insert(0, str(Path(__file__).parent))
from ddp_worker import Probe, setup  # noqa: E402

WORKER = Path(__file__).parent/'ddp_worker.py'

def test_ddp_matches_single_process(tmp_path):
    torch.set_num_threads(1)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': os.pathsep.join(filter(None, [str(Path(__file__).parents[1]), os.environ.get('PYTHONPATH')]))}
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--standalone', str(WORKER), str(tmp_path)],
                       env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    # at exit both ranks have destroyed the group and no gloo thread is left (one left to finalization can abort a rank)
    for i in (0, 1): assert (tmp_path/f'exit{i}.txt').read_text() == 'initialized=False gloo_threads=[]', i
    assert 'terminate called' not in r.stderr, r.stderr[-2000:]
    res = [json.loads((tmp_path/f'rank{i}.json').read_text()) for i in (0, 1)]
    sd = [torch.load(tmp_path/f'rank{i}.pt', weights_only=True) for i in (0, 1)]

    # single process, same global batch; the batch runs in 2 chunks so BN sees the same per-rank slices
    model, sampler, batches, cfg = setup(chunks=2)
    probe = Probe()
    ref = Trainer(model, sampler, batches, cfg, callbacks=[probe], progress=False).fit()
    ref_sd = model.net.state_dict()

    # every rank trained the same archs as the reference, and unused parameters kept grad None on every rank
    assert res[0]['archs'] == res[1]['archs'] == probe.archs and len(probe.archs) == 6
    assert res[0]['none'] == res[1]['none'] and all(res[0]['none'])
    assert [[n.removeprefix('net.') for n in step] for step in probe.none] == res[0]['none']
    # parameters: bitwise equal across ranks (same summed grads), equal to the reference within float tolerance
    params = [n for n, _ in model.net.named_parameters()]
    for n in params:
        assert torch.equal(sd[0][n], sd[1][n]), n
        torch.testing.assert_close(sd[0][n], ref_sd[n], rtol=1e-5, atol=1e-6, msg=n)
    num = sum((sd[0][n] - ref_sd[n]).double().norm() ** 2 for n in params) ** 0.5
    den = sum(ref_sd[n].double().norm() ** 2 for n in params) ** 0.5
    assert num / den < 1e-5, float(num / den)
    torch.manual_seed(0); init = type(model.net)(model.space, 'sbn').state_dict()
    assert sum(not torch.equal(sd[0][n], init[n]) for n in params) > len(params) // 3   # training moved the weights
    print(f'relative parameter difference to the single-process run: {float(num / den):.2e}')
    # history: same records as the reference (global loss and accuracy), written once, by rank 0 only
    rd = RunDir(tmp_path/'run')
    h = rd.history()
    assert len(h) == res[0]['history_len'] == res[1]['history_len'] == len(ref.history)
    for a, b in zip(h, ref.history):
        assert (a['kind'], a['step'], a.get('arch'), a['n'], a['acc']) == (b['kind'], b['step'], b.get('arch'), b['n'], b['acc'])
        assert abs(a['loss'] - b['loss']) < 1e-5 * abs(b['loss'])
    assert (tmp_path/'run'/'checkpoints'/'last.pt').exists()
    # a sampler seeded differently per rank is refused on every rank
    for x in res: assert 'ranks sampled different archs at step 0' in x['mismatch_error'], x['mismatch_error']
