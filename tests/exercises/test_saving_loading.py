"""Answers to the exercises of "Saving and loading", right and wrong (see harness.py)."""

from textwrap import dedent

import pytest

from harness import Answers, cases, verify

NOTEBOOK = "saving_loading"

RESUME = """
def resume_latest(folder, model, optimizer, scheduler, loader):
    latest = None
    for path in sorted(Path(folder).iterdir()):
        try:
            checkpoint = load_checkpoint(path)
        except ValueError:
            continue
        if latest is None or checkpoint["epoch"] > latest["epoch"]:
            latest = checkpoint
    if latest is None:
        return 0
    model.load_state_dict(latest["model"])
    optimizer.load_state_dict(latest["optimizer"])
    scheduler.load_state_dict(latest["scheduler"])
    set_rng_states(latest["rng"])
    loader.generator.set_state(latest["loader_rng"])
    return latest["epoch"]
"""

RESTORE = """
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    set_rng_states(checkpoint["rng"])
    loader.generator.set_state(checkpoint["loader_rng"])
    return checkpoint["epoch"]
"""

CONVERT = """
def to_safetensors(src, dst):
    checkpoint = load_checkpoint(src)
    tensors = {{name: {tensor} for name, tensor in checkpoint["model"].items()}}
    save_file(tensors, {dst}, metadata={{"epoch": {epoch}}})
"""


def convert(tensor="tensor.contiguous()", dst="dst", epoch='str(checkpoint["epoch"])'):
    return CONVERT.format(tensor=tensor, dst=dst, epoch=epoch)


SMALL = """
def save_small(model, path):
    save_file({{n: {convert} for n, t in model.state_dict().items()}}, path)


def load_small(path, model):
    model.load_state_dict(load_file(path))
    return model
"""


def small(convert="t.half().contiguous()"):
    return SMALL.format(convert=convert)


ANSWERS = {
    "saving-ex-1": Answers(
        right={
            "OrderedDict in a loop": """
                from collections import OrderedDict

                def add_prefix(state_dict, prefix):
                    out = OrderedDict()
                    for key in state_dict:
                        out[f"{prefix}{key}"] = state_dict[key]
                    return out
            """,
            "detach shares the memory": """
                def add_prefix(state_dict, prefix):
                    return dict((prefix + k, v.detach()) for k, v in state_dict.items())
            """,
        },
        wrong={
            "renames in place": (
                """
                def add_prefix(state_dict, prefix):
                    for key in list(state_dict):
                        state_dict[prefix + key] = state_dict.pop(key)
                    return state_dict
                """,
                "returned the argument itself",
            ),
            "renames in place, returns a copy": (
                """
                def add_prefix(state_dict, prefix):
                    for key in list(state_dict):
                        state_dict[prefix + key] = state_dict.pop(key)
                    return dict(state_dict)
                """,
                "argument was changed",
            ),
            "clones the tensors": (
                """
                def add_prefix(state_dict, prefix):
                    return {prefix + k: v.clone() for k, v in state_dict.items()}
                """,
                "was copied",
            ),
            "deep copy first": (
                """
                import copy

                def add_prefix(state_dict, prefix):
                    return {prefix + k: v for k, v in copy.deepcopy(state_dict).items()}
                """,
                "was copied",
            ),
            "hard-coded module.": (
                """
                def add_prefix(state_dict, prefix):
                    return {"module." + k: v for k, v in state_dict.items()}
                """,
                "expected keys like",
            ),
            "an extra dot": (
                """
                def add_prefix(state_dict, prefix):
                    return {prefix + "." + k: v for k, v in state_dict.items()}
                """,
                "expected keys like",
            ),
            "sorted keys": (
                """
                def add_prefix(state_dict, prefix):
                    return {prefix + k: state_dict[k] for k in sorted(state_dict)}
                """,
                "another order",
            ),
        },
    ),
    "saving-ex-2": Answers(
        right={
            "size() and a loop": """
                def select_matching(model, state_dict):
                    selected = {}
                    for name, tensor in model.state_dict().items():
                        theirs = state_dict.get(name)
                        if theirs is not None and theirs.size() == tensor.size():
                            selected[name] = theirs
                    return selected
            """,
        },
        wrong={
            "names only": (
                """
                def select_matching(model, state_dict):
                    own = model.state_dict()
                    return {k: state_dict[k] for k in own if k in state_dict}
                """,
                "compare the shapes",
            ),
            "the checkpoint's order": (
                """
                def select_matching(model, state_dict):
                    own = model.state_dict()
                    return {k: v for k, v in state_dict.items()
                            if k in own and v.shape == own[k].shape}
                """,
                "model's order",
            ),
            "calls load_matching": (
                """
                def select_matching(model, state_dict):
                    return {k: state_dict[k] for k in load_matching(model, state_dict).loaded}
                """,
                "only select, not load",
            ),
            "parameters only": (
                """
                def select_matching(model, state_dict):
                    own = dict(model.named_parameters())
                    return {k: state_dict[k] for k in own
                            if k in state_dict and state_dict[k].shape == own[k].shape}
                """,
                "buffers",
            ),
            "same number of elements": (
                """
                def select_matching(model, state_dict):
                    own = model.state_dict()
                    return {k: state_dict[k] for k in own
                            if k in state_dict and state_dict[k].numel() == own[k].numel()}
                """,
                "same number of elements is not enough",
            ),
            "by position": (
                """
                def select_matching(model, state_dict):
                    own = model.state_dict()
                    return {k: v for k, v in zip(own, state_dict.values())
                            if v.shape == own[k].shape}
                """,
                "never by position",
            ),
            "copies the tensors": (
                """
                def select_matching(model, state_dict):
                    own = model.state_dict()
                    return {k: state_dict[k].clone() for k in own
                            if k in state_dict and state_dict[k].shape == own[k].shape}
                """,
                "not copies",
            ),
        },
    ),
    "saving-ex-3": Answers(
        right={
            "max over (epoch, checkpoint) pairs, glob": dedent("""
                def resume_latest(folder, model, optimizer, scheduler, loader):
                    found = []
                    for path in Path(folder).glob("*"):
                        try:
                            found.append(load_checkpoint(path))
                        except ValueError:
                            pass
                    if not found:
                        return 0
                    checkpoint = max(found, key=lambda c: c["epoch"])
            """)
            + RESTORE,
            "RNG first, torch.load": RESUME.replace("load_checkpoint(path)", "torch.load(path)")
            .replace("except ValueError", "except Exception")
            .replace(
                '    model.load_state_dict(latest["model"])',
                '    set_rng_states(latest["rng"])\n    model.load_state_dict(latest["model"])',
            ),
        },
        wrong={
            "the last file by name": (
                dedent("""
                def resume_latest(folder, model, optimizer, scheduler, loader):
                    files = sorted(Path(folder).glob("epoch-*.pt"))
                    if not files:
                        return 0
                    checkpoint = load_checkpoint(files[-1])
            """)
                + RESTORE,
                "skip every file that load_checkpoint refuses",
            ),
            "the newest file": (
                dedent("""
                def resume_latest(folder, model, optimizer, scheduler, loader):
                    for path in sorted(Path(folder).iterdir(), key=lambda p: -p.stat().st_mtime):
                        try:
                            checkpoint = load_checkpoint(path)
                        except ValueError:
                            continue
            """)
                + RESTORE.replace("\n    ", "\n        ")
                + "    return 0\n",
                "expected to continue from epoch 5",
            ),
            "the first file that loads": (
                dedent("""
                def resume_latest(folder, model, optimizer, scheduler, loader):
                    for path in sorted(Path(folder).iterdir()):
                        try:
                            checkpoint = load_checkpoint(path)
                        except ValueError:
                            continue
            """)
                + RESTORE.replace("\n    ", "\n        ")
                + "    return 0\n",
                "got 2",
            ),
            "forgets the RNG states": (
                RESUME.replace('    set_rng_states(latest["rng"])\n', ""),
                "the RNG states",
            ),
            "forgets the loader's generator": (
                RESUME.replace('    loader.generator.set_state(latest["loader_rng"])\n', ""),
                "losses differ",
            ),
            "forgets the scheduler": (
                RESUME.replace('    scheduler.load_state_dict(latest["scheduler"])\n', ""),
                "losses differ",
            ),
            "fails on an empty folder": (
                dedent("""
                def resume_latest(folder, model, optimizer, scheduler, loader):
                    found = []
                    for path in Path(folder).iterdir():
                        try:
                            found.append(load_checkpoint(path))
                        except ValueError:
                            pass
                    checkpoint = max(found, key=lambda c: c["epoch"])
            """)
                + RESTORE,
                "return 0",
            ),
            "the next epoch": (
                RESUME.replace('return latest["epoch"]', 'return latest["epoch"] + 1'),
                "expected to continue from epoch 5",
            ),
        },
    ),
    "saving-ex-4": Answers(
        right={
            "save_file with a dict copy, f-string epoch": """
                def to_safetensors(src, dst):
                    parts = load_checkpoint(src)
                    weights = {}
                    for key, value in parts["model"].items():
                        weights[key] = value if value.is_contiguous() else value.contiguous()
                    save_file(weights, dst, metadata={"epoch": f"{parts['epoch']}"})
            """,
        },
        wrong={
            "integer metadata": (convert(epoch='checkpoint["epoch"]'), "must be strings"),
            "not contiguous": (convert(tensor="tensor"), "call .contiguous()"),
            "clone keeps the strides": (convert(tensor="tensor.clone()"), ".contiguous()"),
            "ignores dst": (convert(dst='"exercise.safetensors"'), "nothing was written to dst"),
            "hard-coded epoch": (convert(epoch='"12"'), "expected the metadata 'epoch' to be '3'"),
            "converts to half precision": (
                convert(tensor="tensor.contiguous().half()"),
                "keep the dtype",
            ),
            "torch.save instead": (
                """
                def to_safetensors(src, dst):
                    checkpoint = load_checkpoint(src)
                    torch.save(checkpoint["model"], dst)
                """,
                "not a safetensors file",
            ),
        },
    ),
    "saving-ex-5": Answers(
        right={
            "float16 via to(), with a floating-point guard": small(
                "(t.to(torch.float16) if t.is_floating_point() else t).contiguous()"
            ),
            "float16, loaded through a dict conversion": """
                def save_small(model, path):
                    save_file({k: v.clone().half() for k, v in model.state_dict().items()}, path)


                def load_small(path, model):
                    state = {k: v.float() for k, v in load_file(path).items()}
                    model.load_state_dict(state)
                    return model
            """,
        },
        wrong={
            "float32 unchanged": (small("t.contiguous()"), "fewer bits"),
            "bfloat16": (small("t.to(torch.bfloat16).contiguous()"), "rounds too coarsely"),
            "model.half() in place": (
                """
                def save_small(model, path):
                    save_file(model.half().state_dict(), path)


                def load_small(path, model):
                    model.load_state_dict(load_file(path))
                    return model
                """,
                "changed the model it was given",
            ),
            "loads into a half model": (
                """
                def save_small(model, path):
                    save_file({n: t.half() for n, t in model.state_dict().items()}, path)


                def load_small(path, model):
                    model.half().load_state_dict(load_file(path))
                    return model
                """,
                "float32",
            ),
            "torch.save of half tensors": (
                """
                def save_small(model, path):
                    torch.save({n: t.half() for n, t in model.state_dict().items()}, path)


                def load_small(path, model):
                    model.load_state_dict(torch.load(path))
                    return model
                """,
                "not a safetensors file",
            ),
        },
    ),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK, ANSWERS), ids=str)
def test_exercise(grader, case):
    verify(grader, case)
