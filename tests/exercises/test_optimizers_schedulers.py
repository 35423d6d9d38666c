"""Answers to the exercises of "Optimizers and learning-rate schedulers" (see harness.py)."""

import pytest

from harness import Answers, cases, verify

NOTEBOOK = "optimizers_schedulers"

ACCUMULATE = """
def accumulated_step(model, optimizer, loss_fn, batches):
    total = sum(len(x) for x, _ in batches)
    {zero}
    whole = 0.0
    for inputs, targets in batches:
        {inner}
        loss = {loss}
        loss.backward()
        whole += loss.item(){inner_step}
    {step}
    return {result}
"""


def accumulate(
    zero="optimizer.zero_grad()",
    inner="pass",
    loss="loss_fn(model(inputs), targets) * len(inputs) / total",
    inner_step="",
    step="optimizer.step()",
    result="whole",
):
    return ACCUMULATE.format(
        zero=zero, inner=inner, loss=loss, inner_step=inner_step, step=step, result=result
    )


PLATEAU = """
def plateau_lrs(metrics, lr, *, factor, patience):
    best, bad, used = math.inf, 0, []
    for value in metrics:
        used.append(lr)
        if {better}:
            best, bad = value, 0
        else:
            bad += 1
        if {reduce}:
            {after}
    return used
"""


def plateau(better="value < best", reduce="bad > patience", after="lr, bad = lr * factor, 0"):
    return PLATEAU.format(better=better, reduce=reduce, after=after)


NDIM = """
def ndim_param_groups(model, weight_decay):
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {{"params": [p for p in params if {rule}], "weight_decay": {decay}}},
        {{"params": [p for p in params if not ({rule})]{no_decay}}},
    ]
"""


def ndim(rule="p.ndim >= 2", decay="weight_decay", no_decay=', "weight_decay": 0.0'):
    return NDIM.format(rule=rule, decay=decay, no_decay=no_decay)


def sgd(lr, scheduler="None", momentum=0.9):
    return f"""
    def configure(params, steps):
        optimizer = torch.optim.SGD(params, lr={lr}, momentum={momentum})
        return optimizer, {scheduler}
    """


ANSWERS = {
    "optim-ex-1": Answers(
        right={
            "model.zero_grad and gradients scaled at the end": """
                def accumulated_step(model, optimizer, loss_fn, batches):
                    model.zero_grad()
                    total = sum(len(x) for x, _ in batches)
                    summed = 0.0
                    for inputs, targets in batches:
                        loss = loss_fn(model(inputs), targets) * len(inputs)
                        loss.backward()
                        summed += loss.item()
                    for p in model.parameters():
                        p.grad /= total
                    optimizer.step()
                    return summed / total
            """,
            "zero_grad keeping zero tensors, weights as a list": """
                def accumulated_step(model, optimizer, loss_fn, batches):
                    optimizer.zero_grad(set_to_none=False)
                    sizes = [len(t) for _, t in batches]
                    losses = []
                    for (x, y), n in zip(batches, sizes):
                        loss = loss_fn(model(x), y)
                        (loss * n / sum(sizes)).backward()
                        losses.append(loss.detach() * n)
                    optimizer.step()
                    return float(sum(losses) / sum(sizes))
            """,
        },
        wrong={
            "no zero_grad": (accumulate(zero="pass"), "stale gradients"),
            "zero_grad inside the loop": (
                accumulate(zero="pass", inner="optimizer.zero_grad()"),
                "only the last micro-batch",
            ),
            "losses not scaled": (
                accumulate(loss="loss_fn(model(inputs), targets)", result="whole / len(batches)"),
                "sum of the micro-batch means",
            ),
            "divided by the number of micro-batches": (
                accumulate(loss="loss_fn(model(inputs), targets) / len(batches)"),
                "same weight 1/k",
            ),
            "a step per micro-batch": (
                accumulate(inner_step="\n        optimizer.step()", step="pass"),
                "called 3 times",
            ),
            "returns the loss tensor": (
                accumulate(result="torch.tensor(whole)"),
                "returned a tensor",
            ),
            "plain mean of the micro-batch losses": (
                """
                def accumulated_step(model, optimizer, loss_fn, batches):
                    total = sum(len(x) for x, _ in batches)
                    optimizer.zero_grad()
                    losses = []
                    for inputs, targets in batches:
                        loss = loss_fn(model(inputs), targets)
                        (loss * len(inputs) / total).backward()
                        losses.append(loss.item())
                    optimizer.step()
                    return sum(losses) / len(losses)
                """,
                "plain mean",
            ),
            "hard-coded cross_entropy": (
                accumulate(loss="F.cross_entropy(model(inputs), targets) * len(inputs) / total"),
                "loss_fn",
            ),
            "concatenates the micro-batches": (
                """
                def accumulated_step(model, optimizer, loss_fn, batches):
                    inputs = torch.cat([x for x, _ in batches])
                    targets = torch.cat([y for _, y in batches])
                    optimizer.zero_grad()
                    loss = loss_fn(model(inputs), targets)
                    loss.backward()
                    optimizer.step()
                    return loss.item()
                """,
                "never to run the whole batch",
            ),
        },
    ),
    "optim-ex-2": Answers(
        right={
            "max(0, ...) and a conditional expression": """
                def warmup_cosine(step, *, warmup, total):
                    progress = max(0, step - warmup) / (total - warmup)
                    cosine = (1 + math.cos(math.pi * progress)) / 2
                    return (step + 1) / warmup if step < warmup else cosine
            """,
            "torch cosine": """
                def warmup_cosine(step, *, warmup, total):
                    if step >= warmup:
                        t = torch.tensor((step - warmup) / (total - warmup), dtype=torch.float64)
                        return float(0.5 * (1 + torch.cos(torch.pi * t)))
                    return (step + 1) / warmup
            """,
        },
        wrong={
            "warm-up starts at 0": (
                """
                def warmup_cosine(step, *, warmup, total):
                    if step < warmup:
                        return step / warmup
                    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
                """,
                "(t + 1) / warmup",
            ),
            "cosine over total": (
                """
                def warmup_cosine(step, *, warmup, total):
                    if step < warmup:
                        return (step + 1) / warmup
                    return 0.5 * (1 + math.cos(math.pi * step / total))
                """,
                "(step - warmup) / (total - warmup)",
            ),
            "decay ends a step early": (
                """
                def warmup_cosine(step, *, warmup, total):
                    if step < warmup:
                        return (step + 1) / warmup
                    progress = (step - warmup) / (total - warmup - 1)
                    return 0.5 * (1 + math.cos(math.pi * progress))
                """,
                "at step 6 the factor",
            ),
            "cosine one step ahead": (
                """
                def warmup_cosine(step, *, warmup, total):
                    if step < warmup:
                        return (step + 1) / warmup
                    progress = (step - warmup + 1) / (total - warmup)
                    return 0.5 * (1 + math.cos(math.pi * progress))
                """,
                "at step 5 the factor should be 1",
            ),
            "returns the rate instead of the factor": (
                """
                def warmup_cosine(step, *, warmup, total):
                    if step < warmup:
                        return 0.1 * (step + 1) / warmup
                    return 0.05 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
                """,
                "not the rate",
            ),
        },
    ),
    "optim-ex-3": Answers(
        right={
            "count the reductions, lr * factor ** n": """
                def plateau_lrs(metrics, lr, *, factor, patience):
                    best, since, reductions, out = float("inf"), 0, 0, []
                    for m in metrics:
                        out.append(lr * factor**reductions)
                        since = 0 if m < best else since + 1
                        best = min(best, m)
                        if since == patience + 1:
                            reductions, since = reductions + 1, 0
                    return out
            """,
        },
        wrong={
            "patience off by one": (plateau(reduce="bad >= patience"), "reduced too early"),
            "ties count as improvements": (plateau(better="value <= best"), "a tie is not"),
            "count not reset after a reduction": (
                plateau(after="lr = lr * factor"),
                "reduced too early",
            ),
            "rate recorded after the update": (
                """
                def plateau_lrs(metrics, lr, *, factor, patience):
                    best, bad, used = math.inf, 0, []
                    for value in metrics:
                        if value < best:
                            best, bad = value, 0
                        else:
                            bad += 1
                        if bad > patience:
                            lr, bad = lr * factor, 0
                        used.append(lr)
                    return used
                """,
                "rate should be",
            ),
            "compared with the previous metric, not the best": (
                """
                def plateau_lrs(metrics, lr, *, factor, patience):
                    previous, bad, used = math.inf, 0, []
                    for value in metrics:
                        used.append(lr)
                        bad = 0 if value < previous else bad + 1
                        previous = value
                        if bad > patience:
                            lr, bad = lr * factor, 0
                    return used
                """,
                "reduced too late",
            ),
            "best forgotten after a reduction": (
                plateau(after="lr, bad, best = lr * factor, 0, math.inf"),
                "best so far is kept",
            ),
        },
    ),
    "optim-ex-4": Answers(
        right={
            "named_parameters and dim() > 1": """
                def ndim_param_groups(model, weight_decay):
                    decay, no_decay = [], []
                    for name, param in model.named_parameters():
                        if not param.requires_grad:
                            continue
                        (decay if param.dim() > 1 else no_decay).append(param)
                    return [{"params": decay, "weight_decay": weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}]
            """,
            "len(shape), no-decay group first": """
                def ndim_param_groups(model, weight_decay):
                    trainable = [p for p in model.parameters() if p.requires_grad]
                    return [
                        {"params": [p for p in trainable if len(p.shape) < 2], "weight_decay": 0.0},
                        {"params": [p for p in trainable if len(p.shape) >= 2],
                         "weight_decay": weight_decay},
                    ]
            """,
        },
        wrong={
            "by name": (
                """
                def ndim_param_groups(model, weight_decay):
                    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
                    return [
                        {"params": [p for n, p in named if not n.endswith("bias")],
                         "weight_decay": weight_decay},
                        {"params": [p for n, p in named if n.endswith("bias")],
                         "weight_decay": 0.0},
                    ]
                """,
                "should not be decayed",
            ),
            "frozen parameters kept": (
                ndim().replace("if p.requires_grad", ""),
                "frozen parameter",
            ),
            "ndim > 2": (ndim(rule="p.ndim > 2"), "fc.weight should be decayed"),
            "calls build_param_groups": (
                """
                def ndim_param_groups(model, weight_decay):
                    return build_param_groups(model, weight_decay=weight_decay)
                """,
                "act.weight should not be decayed",
            ),
            "hard-coded weight decay": (ndim(decay="0.01"), "weight_decay argument"),
            "no-decay group without weight_decay": (ndim(no_decay=""), "takes the optimizer's"),
            "generators instead of lists": (
                """
                def ndim_param_groups(model, weight_decay):
                    params = [p for p in model.parameters() if p.requires_grad]
                    return [
                        {"params": (p for p in params if p.ndim >= 2), "weight_decay": weight_decay},
                        {"params": (p for p in params if p.ndim < 2), "weight_decay": 0.0},
                    ]
                """,
                "generator",
            ),
        },
    ),
    "optim-ex-5": Answers(
        right={
            "constant 0.8": sgd(0.8),
            "warm-up to 1.0": sgd(
                1.0, "torch.optim.lr_scheduler.LinearLR(optimizer, 0.1, total_iters=10)"
            ),
        },
        wrong={
            "too small (the chapter's 0.1)": (sgd(0.1), "too small"),
            "too large": (sgd(3.0), "too large"),
            "tuned on one seed only": (sgd(1.2), "for every seed"),
            "a cosine from too low a peak": (
                sgd(0.3, "torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)"),
                "target",
            ),
            "Adam instead": (
                """
                def configure(params, steps):
                    return torch.optim.Adam(params, lr=1e-2), None
                """,
                "expected torch.optim.SGD",
            ),
            "more momentum": (sgd(0.6, momentum=0.95), "momentum=0.9"),
            "scheduler on another optimizer": (
                """
                def configure(params, steps):
                    params = list(params)
                    optimizer = torch.optim.SGD(params, lr=0.6, momentum=0.9)
                    other = torch.optim.SGD(params, lr=0.6, momentum=0.9)
                    return optimizer, torch.optim.lr_scheduler.StepLR(other, 10)
                """,
                "built on the optimizer you return",
            ),
        },
    ),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK, ANSWERS), ids=str)
def test_exercise(grader, case):
    verify(grader, case)
