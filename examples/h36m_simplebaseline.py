"""Train our SimpleBaseline (sealloss.demo.baselines.SimpleBaseline, Martinez et al. 2017) on real
Human3.6M, with and without SEAL, and print the comparison on S9/S11 (GT-projected 2D).

    python examples/h36m_simplebaseline.py --data-root ../shared/data --epochs 5

This is a plain PyTorch loop written out in full, so the lines that SEAL adds are visible
(marked "# SEAL"). For the paired multi-seed benchmark use ``bench/h36m_gain.py``.
"""

from __future__ import annotations

import argparse
import time

import torch
from tqdm import tqdm

from sealloss import AlternatingWrapper, evaluate
from sealloss.data import TEST_SUBJECTS, TRAIN_SUBJECTS, h36m_pairs, load_h36m
from sealloss.demo.baselines import SimpleBaseline
from sealloss.demo.experiment import epoch_order, predict


def train(x, y, use_seal: bool, args) -> torch.nn.Module:
    torch.manual_seed(args.seed)
    model = SimpleBaseline(width=args.width)
    model.set_input_stats(x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = (x.shape[0] // args.batch_size) * args.epochs
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.05 ** (1 / steps))
    seal = None
    if use_seal:  # SEAL
        # SEAL: the recommended setting (sealloss.defaults.RECOMMENDED): the shipped h36m17
        # loss-net, frozen, lam="auto" at force ratio 0.3, scoring a quarter of each batch
        seal = AlternatingWrapper(seed=args.seed)  # SEAL
    bar = tqdm(total=steps, desc="SEAL" if use_seal else "plain")
    for epoch in range(args.epochs):
        model.train()
        order = epoch_order(x.shape[0], args.seed, epoch)
        for b in range(x.shape[0] // args.batch_size):
            idx = order[b * args.batch_size : (b + 1) * args.batch_size]
            xb, yb = x[idx], y[idx]
            pred = model(xb)
            loss = (pred - yb).norm(dim=-1).mean()  # MPJPE in metres
            if seal is not None:  # SEAL
                loss = seal(loss, xb, pred, yb)  # SEAL
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            bar.update()
    bar.close()
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ds = load_h36m(args.data_root)
    tr = h36m_pairs(TRAIN_SUBJECTS, dataset=ds, every=args.every)
    te = h36m_pairs(TEST_SUBJECTS, dataset=ds, every=5)
    x, y = torch.from_numpy(tr["x2d"]), torch.from_numpy(tr["y3d"])
    for use_seal in (False, True):
        t0 = time.perf_counter()
        model = train(x, y, use_seal, args)
        res = evaluate(predict(model, torch.from_numpy(te["x2d"])), torch.from_numpy(te["y3d"]),
                       "h36m17", actions=list(te["action"]))
        print(f"\n== {'SEAL' if use_seal else 'plain'} ({time.perf_counter() - t0:.0f} s) ==")
        print(res.table(per_action=False))


if __name__ == "__main__":
    main()
