"""Answers to the exercises of "Fine-tuning", right and wrong (see harness.py)."""

import pytest

from harness import Answers, cases, verify

NOTEBOOK = "fine_tuning"

# The reference cut_body of finetune-ex-1, reused by the wrong answers that only change
# BEST_STAGE.
REFERENCE_CUT = """
def cut_body(source_model, stage):
    model = copy.deepcopy(source_model)
    names = [name for name, _ in model.named_children()]
    kept = [getattr(model, name) for name in names[: names.index(stage) + 1]]
    body = nn.Sequential(*kept, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    freeze(body)
    keep_frozen_batchnorm_in_eval(body)
    return body
"""

ANSWERS = {
    "finetune-ex-1": Answers(
        right={
            "a wrapper that stops after the stage, train() kept off": """
                class CutBody(nn.Module):
                    def __init__(self, model, stage):
                        super().__init__()
                        self.model, self.stage = model, stage

                    def forward(self, x):
                        for name, child in self.model.named_children():
                            x = child(x)
                            if name == self.stage:
                                return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

                    def train(self, mode=True):
                        return super().train(False)  # a frozen body always runs in eval mode


                def cut_body(source_model, stage):
                    model = copy.deepcopy(source_model)
                    for param in model.parameters():
                        param.requires_grad = False
                    return CutBody(model, stage)


                BEST_STAGE = max(probe, key=probe.get)  # the chapter's measurement
            """,
            "children up to the stage, a mean over (2, 3), measured again": """
                class MeanHW(nn.Module):
                    def forward(self, x):
                        return x.mean(dim=(2, 3))


                def cut_body(source_model, stage):
                    layers = []
                    for name, child in copy.deepcopy(source_model).named_children():
                        layers.append(child)
                        if name == stage:
                            break
                    body = nn.Sequential(*layers, MeanHW()).requires_grad_(False)
                    keep_frozen_batchnorm_in_eval(body)
                    return body


                scores = {}
                for stage in ["layer1", "layer2", "layer3", "layer4"]:
                    extractor = cut_body(source.model, stage)
                    scores[stage] = sum(
                        linear_probe(
                            extractor,
                            tl.digits_split(classes=range(5, 10), relabel=True, per_class=10, seed=s),
                            seed=s,
                        )
                        for s in (0, 1, 2)
                    )
                BEST_STAGE = max(scores, key=scores.get)
            """,
        },
        wrong={
            "a middle stage, guessed": (
                REFERENCE_CUT + '\nBEST_STAGE = "layer2"\n',
                "points better",
            ),
            "early layers are the generic ones": (
                REFERENCE_CUT + '\nBEST_STAGE = "layer1"\n',
                "measure every stage",
            ),
            "measured but BEST_STAGE left unset": (
                REFERENCE_CUT + "\nBEST_STAGE = None\n",
                "set it to the stage",
            ),
            "cut one stage too late": (
                """
                def cut_body(source_model, stage):
                    model = copy.deepcopy(source_model)
                    names = [name for name, _ in model.named_children()]
                    kept = [getattr(model, name) for name in names[: names.index(stage) + 2]]
                    body = nn.Sequential(*kept, nn.AdaptiveAvgPool2d(1), nn.Flatten())
                    freeze(body)
                    keep_frozen_batchnorm_in_eval(body)
                    return body


                BEST_STAGE = "layer3"
                """,
                "these are the features of 'layer2'",
            ),
            "the stage is ignored: always layer3": (
                """
                def cut_body(source_model, stage):
                    model = copy.deepcopy(source_model)
                    body = nn.Sequential(
                        model.conv1, model.bn1, model.relu, model.maxpool,
                        model.layer1, model.layer2, model.layer3,
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                    )
                    freeze(body)
                    keep_frozen_batchnorm_in_eval(body)
                    return body


                BEST_STAGE = "layer3"
                """,
                "features of 'layer3'",
            ),
            "flattened, not pooled": (
                """
                def cut_body(source_model, stage):
                    model = copy.deepcopy(source_model)
                    names = [name for name, _ in model.named_children()]
                    kept = [getattr(model, name) for name in names[: names.index(stage) + 1]]
                    body = nn.Sequential(*kept, nn.Flatten())
                    freeze(body)
                    keep_frozen_batchnorm_in_eval(body)
                    return body


                BEST_STAGE = "layer3"
                """,
                "average over height and width",
            ),
            "no pooling: feature maps": (
                """
                def cut_body(source_model, stage):
                    model = copy.deepcopy(source_model)
                    names = [name for name, _ in model.named_children()]
                    body = nn.Sequential(
                        *[getattr(model, name) for name in names[: names.index(stage) + 1]]
                    )
                    freeze(body)
                    keep_frozen_batchnorm_in_eval(body)
                    return body


                BEST_STAGE = "layer3"
                """,
                "feature maps",
            ),
            "the source frozen in place": (
                """
                def cut_body(source_model, stage):
                    freeze(source_model)
                    names = [name for name, _ in source_model.named_children()]
                    kept = [getattr(source_model, n) for n in names[: names.index(stage) + 1]]
                    body = nn.Sequential(*kept, nn.AdaptiveAvgPool2d(1), nn.Flatten())
                    keep_frozen_batchnorm_in_eval(body)
                    return body


                BEST_STAGE = "layer3"
                """,
                "changed the source model",
            ),
            "frozen, but BatchNorm drifts in train mode": (
                """
                def cut_body(source_model, stage):
                    model = copy.deepcopy(source_model)
                    names = [name for name, _ in model.named_children()]
                    kept = [getattr(model, name) for name in names[: names.index(stage) + 1]]
                    body = nn.Sequential(*kept, nn.AdaptiveAvgPool2d(1), nn.Flatten())
                    freeze(body)
                    return body.eval()


                BEST_STAGE = "layer3"
                """,
                "keep its frozen BatchNorm layers in eval mode",
            ),
            "not frozen": (
                """
                def cut_body(source_model, stage):
                    model = copy.deepcopy(source_model).eval()
                    names = [name for name, _ in model.named_children()]
                    kept = [getattr(model, name) for name in names[: names.index(stage) + 1]]
                    return nn.Sequential(*kept, nn.AdaptiveAvgPool2d(1), nn.Flatten())


                BEST_STAGE = "layer3"
                """,
                "trainable parameter",
            ),
        },
    ),
    "finetune-ex-2": Answers(
        right={
            "names with the dot, head group first": """
                def head_body_groups(model, *, head_lr, body_lr):
                    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
                    return [
                        {"params": [p for n, p in trainable if n.startswith("fc.")], "lr": head_lr},
                        {"params": [p for n, p in trainable if not n.startswith("fc.")], "lr": body_lr},
                    ]
            """,
            "identities, the body as a generator": """
                def head_body_groups(model, *, head_lr, body_lr):
                    head = set(map(id, model.fc.parameters()))
                    body = (p for p in model.parameters() if p.requires_grad and id(p) not in head)
                    head_params = [p for p in model.fc.parameters() if p.requires_grad]
                    return [dict(params=body, lr=body_lr), dict(params=head_params, lr=head_lr)]
            """,
        },
        wrong={
            "frozen parameters included": (
                """
                def head_body_groups(model, *, head_lr, body_lr):
                    return [
                        {"params": [p for n, p in model.named_parameters() if not n.startswith("fc.")],
                         "lr": body_lr},
                        {"params": list(model.fc.parameters()), "lr": head_lr},
                    ]
                """,
                "leave frozen parameters out",
            ),
            "the chapter's rates hard-coded": (
                """
                def head_body_groups(model, *, head_lr, body_lr):
                    head = {id(p) for p in model.fc.parameters()}
                    trainable = [p for p in model.parameters() if p.requires_grad]
                    return [
                        {"params": [p for p in trainable if id(p) not in head], "lr": 1e-3},
                        {"params": [p for p in trainable if id(p) in head], "lr": 1e-2},
                    ]
                """,
                "use the head_lr and body_lr arguments",
            ),
            "calls tl.build_param_groups": (
                """
                def head_body_groups(model, *, head_lr, body_lr):
                    return tl.build_param_groups(
                        model, weight_decay=0.0, module_lrs={"fc": head_lr}, lr=body_lr
                    )
                """,
                "you called tl.build_param_groups",
            ),
            "the head taken whole, frozen or not": (
                """
                def head_body_groups(model, *, head_lr, body_lr):
                    body = [p for n, p in model.named_parameters()
                            if p.requires_grad and not n.startswith("fc.")]
                    return [{"params": body, "lr": body_lr},
                            {"params": list(model.fc.parameters()), "lr": head_lr}]
                """,
                "in the head too",
            ),
            "the head found by a name containing 'fc'": (
                """
                def head_body_groups(model, *, head_lr, body_lr):
                    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
                    return [
                        {"params": [p for n, p in named if "fc" not in n], "lr": body_lr},
                        {"params": [p for n, p in named if "fc" in n], "lr": head_lr},
                    ]
                """,
                "not by name",
            ),
            "rates swapped": (
                """
                def head_body_groups(model, *, head_lr, body_lr):
                    head = {id(p) for p in model.fc.parameters()}
                    trainable = [p for p in model.parameters() if p.requires_grad]
                    return [
                        {"params": [p for p in trainable if id(p) not in head], "lr": head_lr},
                        {"params": [p for p in trainable if id(p) in head], "lr": body_lr},
                    ]
                """,
                "the body parameter conv1.weight has lr 0.01, expected 0.001",
            ),
            "the head in the body group too": (
                """
                def head_body_groups(model, *, head_lr, body_lr):
                    return [
                        {"params": [p for p in model.parameters() if p.requires_grad], "lr": body_lr},
                        {"params": [p for p in model.fc.parameters() if p.requires_grad],
                         "lr": head_lr},
                    ]
                """,
                "fc.weight appears in two groups",
            ),
        },
    ),
    "finetune-ex-3": Answers(
        right={
            "a loop from the output back": """
                def layerwise_lrs(names, top_lr, factor):
                    if factor <= 0 or factor > 1:
                        raise ValueError(f"factor must be in (0, 1], got {factor}")
                    lrs, lr = {}, top_lr
                    for name in reversed(names):
                        lrs[name] = lr
                        lr *= factor
                    return lrs
            """,
            "enumerate over a reversed copy": """
                def layerwise_lrs(names, top_lr, factor):
                    if not (0 < factor <= 1):
                        raise ValueError("factor")
                    return {name: top_lr * factor**k for k, name in enumerate(names[::-1])}
            """,
        },
        wrong={
            "reversed: the input gets top_lr": (
                """
                def layerwise_lrs(names, top_lr, factor):
                    if not 0 < factor <= 1:
                        raise ValueError("factor")
                    return {name: top_lr * factor**i for i, name in enumerate(names)}
                """,
                "the last name gets top_lr",
            ),
            "one power too many": (
                """
                def layerwise_lrs(names, top_lr, factor):
                    if not 0 < factor <= 1:
                        raise ValueError("factor")
                    return {name: top_lr * factor ** (len(names) - i) for i, name in enumerate(names)}
                """,
                "(the example) is wrong",
            ),
            "reverses the caller's list": (
                """
                def layerwise_lrs(names, top_lr, factor):
                    if not 0 < factor <= 1:
                        raise ValueError("factor")
                    names.reverse()
                    lrs, lr = {}, top_lr
                    for name in names:
                        lrs[name] = lr
                        lr *= factor
                    return lrs
                """,
                "changed the list it was given",
            ),
            "accepts a negative factor": (
                """
                def layerwise_lrs(names, top_lr, factor):
                    if factor == 0 or factor > 1:
                        raise ValueError("factor")
                    depth = len(names) - 1
                    return {name: top_lr * factor ** (depth - i) for i, name in enumerate(names)}
                """,
                "factor=-0.5) did not raise",
            ),
            "rejects factor 1": (
                """
                def layerwise_lrs(names, top_lr, factor):
                    if not 0 < factor < 1:
                        raise ValueError("factor")
                    depth = len(names) - 1
                    return {name: top_lr * factor ** (depth - i) for i, name in enumerate(names)}
                """,
                "is allowed",
            ),
            "assert instead of ValueError": (
                """
                def layerwise_lrs(names, top_lr, factor):
                    assert 0 < factor <= 1, "factor"
                    depth = len(names) - 1
                    return {name: top_lr * factor ** (depth - i) for i, name in enumerate(names)}
                """,
                "raised AssertionError, expected ValueError",
            ),
        },
    ),
    "finetune-ex-4": Answers(
        right={
            "own parameters only, train(False)": """
                def set_frozen_bn_eval(model):
                    switched = 0
                    for _, module in model.named_modules():
                        params = list(module.parameters(recurse=False))
                        if isinstance(module, nn.BatchNorm2d) and params and all(
                            not p.requires_grad for p in params
                        ):
                            module.train(False)
                            switched += 1
                    return switched
            """,
            "collect first, then switch": """
                def set_frozen_bn_eval(model):
                    frozen = [
                        m for m in model.modules()
                        if isinstance(m, nn.BatchNorm2d)
                        and not m.weight.requires_grad and not m.bias.requires_grad
                    ]
                    for m in frozen:
                        m.eval()
                    return len(frozen)
            """,
        },
        wrong={
            "the whole model in eval mode": (
                """
                def set_frozen_bn_eval(model):
                    model.eval()
                    return sum(
                        isinstance(m, nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters())
                        for m in model.modules()
                    )
                """,
                "was put in eval mode: switch BatchNorm layers only",
            ),
            "every BatchNorm switched": (
                """
                def set_frozen_bn_eval(model):
                    switched = 0
                    for m in model.modules():
                        if isinstance(m, nn.BatchNorm2d):
                            m.eval()
                            switched += 1
                    return switched
                """,
                "layer3.1.bn1 was put in eval mode but it is trainable",
            ),
            "top-level children only": (
                """
                def set_frozen_bn_eval(model):
                    switched = 0
                    for m in model.children():
                        if isinstance(m, nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters()):
                            m.eval()
                            switched += 1
                    return switched
                """,
                "layer1.0.bn1 is frozen but still in train mode",
            ),
            "names of the layers frozen in the visible case": (
                """
                def set_frozen_bn_eval(model):
                    switched = 0
                    for name, m in model.named_modules():
                        if isinstance(m, nn.BatchNorm2d) and name.startswith(
                            ("bn1", "layer1", "layer2", "layer3.0")
                        ):
                            m.eval()
                            switched += 1
                    return switched
                """,
                "not from names or positions",
            ),
            "the weight tested, the bias ignored": (
                """
                def set_frozen_bn_eval(model):
                    switched = 0
                    for m in model.modules():
                        if isinstance(m, nn.BatchNorm2d) and not m.weight.requires_grad:
                            m.eval()
                            switched += 1
                    return switched
                """,
                "only some of its parameters are frozen",
            ),
            "forgets to return the count": (
                """
                def set_frozen_bn_eval(model):
                    for m in model.modules():
                        if isinstance(m, nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters()):
                            m.eval()
                """,
                "expected the number of layers switched",
            ),
        },
    ),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK, ANSWERS), ids=str)
def test_exercise(grader, case):
    verify(grader, case)
