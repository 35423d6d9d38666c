"""Answers to the exercises of "Loss functions", right and wrong (see harness.py)."""

import pytest

from harness import Answers, cases, verify

NOTEBOOK = "loss_functions"


def _tversky(forward: str, init: str = "alpha=0.5, beta=0.5, smooth=1.0") -> str:
    return (
        "class TverskyLoss(nn.Module):\n"
        f"    def __init__(self, *, {init}):\n"
        "        super().__init__()\n"
        "        self.alpha, self.beta, self.smooth = alpha, beta, smooth\n\n"
        "    def forward(self, logits, masks):\n" + forward
    )


_PER_SAMPLE = (
    "        p, t = torch.sigmoid(logits).flatten(1), masks.flatten(1)\n"
    "        tp, fp, fn = (p * t).sum(1), (p * (1 - t)).sum(1), ((1 - p) * t).sum(1)\n"
)
_RIGHT_RETURN = (
    "        return (1 - (tp + self.smooth)"
    " / (tp + self.alpha * fp + self.beta * fn + self.smooth)).mean()\n"
)


def _imbalance(weight: str) -> str:
    return (
        "def make_imbalance_loss(train_targets):\n"
        f"    w = {weight}\n"
        "    return lambda logits, targets: F.binary_cross_entropy_with_logits(\n"
        "        logits, targets, pos_weight=torch.as_tensor(w))\n"
    )


ANSWERS = {
    "losses-ex-1": Answers(
        right={
            "log_softmax and a loop-free weighted mean": """
                def cross_entropy_by_hand(logits, labels, weight=None, ignore_index=-100):
                    keep = (labels != ignore_index).to(logits.dtype)
                    safe = labels.clamp(min=0) * (labels != ignore_index)
                    log_p = logits.log_softmax(dim=1).gather(1, safe[:, None]).squeeze(1)
                    w = keep if weight is None else weight[safe] * keep
                    return -(w * log_p).sum() / w.sum()
            """,
            "max-shifted log-sum-exp by hand": """
                def cross_entropy_by_hand(logits, labels, weight=None, ignore_index=-100):
                    mask = labels != ignore_index
                    x, y = logits[mask], labels[mask]
                    m = x.max(dim=1, keepdim=True).values
                    lse = (x - m).exp().sum(dim=1).log() + m.squeeze(1)
                    losses = lse - x[torch.arange(len(y)), y]
                    if weight is None:
                        return losses.mean()
                    return (weight[y] * losses).sum() / weight[y].sum()
            """,
        },
        wrong={
            "calls F.cross_entropy": (
                """
                def cross_entropy_by_hand(logits, labels, weight=None, ignore_index=-100):
                    return F.cross_entropy(logits, labels, weight=weight, ignore_index=ignore_index)
                """,
                "you called F.cross_entropy",
            ),
            "weighted sum divided by N": (
                """
                def cross_entropy_by_hand(logits, labels, weight=None, ignore_index=-100):
                    keep = labels != ignore_index
                    x, y = logits[keep], labels[keep]
                    per = torch.logsumexp(x, 1) - x.gather(1, y[:, None]).squeeze(1)
                    w = torch.ones_like(per) if weight is None else weight[y]
                    return (w * per).mean()
                """,
                "class weights",
            ),
            "ignored labels kept in the denominator": (
                """
                def cross_entropy_by_hand(logits, labels, weight=None, ignore_index=-100):
                    keep = labels != ignore_index
                    safe = torch.where(keep, labels, 0)
                    per = torch.logsumexp(logits, 1) - logits.gather(1, safe[:, None]).squeeze(1)
                    w = torch.ones_like(per) if weight is None else weight[safe]
                    return (w * per * keep).sum() / w.sum()
                """,
                "ignore_index",
            ),
            "ignore_index not handled": (
                """
                def cross_entropy_by_hand(logits, labels, weight=None, ignore_index=-100):
                    per = torch.logsumexp(logits, 1) - logits.gather(1, labels[:, None]).squeeze(1)
                    w = torch.ones_like(per) if weight is None else weight[labels]
                    return (w * per).sum() / w.sum()
                """,
                "labels equal to ignore_index",
            ),
            "returns a float": (
                """
                def cross_entropy_by_hand(logits, labels, weight=None, ignore_index=-100):
                    keep = labels != ignore_index
                    x, y = logits[keep], labels[keep]
                    per = torch.logsumexp(x, 1) - x.gather(1, y[:, None]).squeeze(1)
                    w = torch.ones_like(per) if weight is None else weight[y]
                    return ((w * per).sum() / w.sum()).item()
                """,
                "0-dimensional tensor",
            ),
            "shifted by the global maximum": (
                """
                def cross_entropy_by_hand(logits, labels, weight=None, ignore_index=-100):
                    keep = labels != ignore_index
                    x, y = logits[keep], labels[keep]
                    m = x.max()
                    per = torch.log(torch.exp(x - m).sum(1)) + m - x.gather(1, y[:, None]).squeeze(1)
                    w = torch.ones_like(per) if weight is None else weight[y]
                    return (w * per).sum() / w.sum()
                """,
                "its own maximum",
            ),
            "normalised by the sum of the class weights": (
                """
                def cross_entropy_by_hand(logits, labels, weight=None, ignore_index=-100):
                    keep = labels != ignore_index
                    x, y = logits[keep], labels[keep]
                    per = torch.logsumexp(x, 1) - x.gather(1, y[:, None]).squeeze(1)
                    if weight is None:
                        return per.mean()
                    return (weight[y] * per).sum() / weight.sum()
                """,
                "values are wrong",
            ),
        },
    ),
    "losses-ex-2": Answers(
        right={
            "log sigma(-x) = log sigma(x) - x": """
                def stable_bce(logits, targets):
                    log_p = F.logsigmoid(logits)
                    return -(targets * log_p + (1 - targets) * (log_p - logits))
            """,
            "softplus": """
                def stable_bce(logits, targets):
                    return targets * F.softplus(-logits) + (1 - targets) * F.softplus(logits)
            """,
        },
        wrong={
            "calls the built-in": (
                """
                def stable_bce(logits, targets):
                    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
                """,
                "you called a built-in BCE function",
            ),
            "BCEWithLogitsLoss module": (
                """
                def stable_bce(logits, targets):
                    return nn.BCEWithLogitsLoss(reduction="none")(logits, targets)
                """,
                "built-in BCE",
            ),
            "clamped probabilities": (
                """
                def stable_bce(logits, targets):
                    p = torch.sigmoid(logits).clamp(1e-7, 1 - 1e-7)
                    return -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p))
                """,
                "no clamping",
            ),
            "half stable": (
                """
                def stable_bce(logits, targets):
                    return -(targets * F.logsigmoid(logits)
                             + (1 - targets) * torch.log(1 - torch.sigmoid(logits)))
                """,
                "logsigmoid(-x)",
            ),
            "naive softplus with exp": (
                """
                def stable_bce(logits, targets):
                    return (targets * torch.log1p(torch.exp(-logits))
                            + (1 - targets) * torch.log1p(torch.exp(logits)))
                """,
                "values are wrong",
            ),
            "the max trick, whose autograd gradient is wrong at 0": (
                """
                def stable_bce(logits, targets):
                    return logits.clamp(min=0) - logits * targets + torch.log1p(torch.exp(-logits.abs()))
                """,
                "at a kink such as max(x, 0)",
            ),
            "mean reduction": (
                """
                def stable_bce(logits, targets):
                    return -(targets * F.logsigmoid(logits) + (1 - targets) * F.logsigmoid(-logits)).mean()
                """,
                "one value per element",
            ),
            "clamped at -100 like F.binary_cross_entropy": (
                """
                def stable_bce(logits, targets):
                    return -(targets * F.logsigmoid(logits).clamp(min=-100)
                             + (1 - targets) * F.logsigmoid(-logits).clamp(min=-100))
                """,
                "largest absolute difference 100",
            ),
        },
    ),
    "losses-ex-3": Answers(
        right={
            "reshape and keepdim-free sums": """
                def soft_dice_loss(logits, masks, smooth=1.0):
                    n = logits.shape[0]
                    p = logits.sigmoid().reshape(n, -1)
                    t = masks.reshape(n, -1)
                    dice = (2 * (p * t).sum(-1) + smooth) / (p.sum(-1) + t.sum(-1) + smooth)
                    return 1 - dice
            """,
            "sum over every dim but the first": """
                def soft_dice_loss(logits, masks, smooth=1.0):
                    dims = tuple(range(1, logits.ndim))
                    p = torch.sigmoid(logits)
                    inter = (p * masks).sum(dim=dims)
                    return 1 - (2 * inter + smooth) / (p.sum(dim=dims) + masks.sum(dim=dims) + smooth)
            """,
        },
        wrong={
            "calls the library's dice_loss": (
                """
                def soft_dice_loss(logits, masks, smooth=1.0):
                    return dice_loss(logits, masks, smooth=smooth, reduction="none")
                """,
                "you called the library's dice_loss",
            ),
            "sums over fixed image dims (1, 2, 3)": (
                """
                def soft_dice_loss(logits, masks, smooth=1.0):
                    p = torch.sigmoid(logits)
                    inter = (p * masks).sum(dim=(1, 2, 3))
                    return 1 - (2 * inter + smooth) / (p.sum(dim=(1, 2, 3)) + masks.sum(dim=(1, 2, 3)) + smooth)
                """,
                "(N, D) inputs",
            ),
            "batch-wide": (
                """
                def soft_dice_loss(logits, masks, smooth=1.0):
                    p = torch.sigmoid(logits)
                    return 1 - (2 * (p * masks).sum() + smooth) / (p.sum() + masks.sum() + smooth)
                """,
                "expected shape (3,)",
            ),
            "no sigmoid": (
                """
                def soft_dice_loss(logits, masks, smooth=1.0):
                    p, t = logits.flatten(1), masks.flatten(1)
                    return 1 - (2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)
                """,
                "apply the sigmoid",
            ),
            "smooth hard-coded": (
                """
                def soft_dice_loss(logits, masks, smooth=1.0):
                    p, t = torch.sigmoid(logits).flatten(1), masks.flatten(1)
                    return 1 - (2 * (p * t).sum(1) + 1.0) / (p.sum(1) + t.sum(1) + 1.0)
                """,
                "smooth=0",
            ),
            "thresholded predictions": (
                """
                def soft_dice_loss(logits, masks, smooth=1.0):
                    p, t = (logits > 0).float().flatten(1), masks.flatten(1)
                    return 1 - (2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)
                """,
                "no gradient flows back",
            ),
        },
    ),
    "losses-ex-4": Answers(
        right={
            "options in a dict, sums over all but the first dim": """
                class TverskyLoss(nn.Module):
                    def __init__(self, *, alpha=0.5, beta=0.5, smooth=1.0):
                        super().__init__()
                        self.options = {"alpha": alpha, "beta": beta, "smooth": smooth}

                    def forward(self, logits, masks):
                        dims = tuple(range(1, logits.ndim))
                        p = torch.sigmoid(logits)
                        tp = (p * masks).sum(dims)
                        fp = p.sum(dims) - tp
                        fn = masks.sum(dims) - tp
                        o = self.options
                        t = (tp + o["smooth"]) / (tp + o["alpha"] * fp + o["beta"] * fn + o["smooth"])
                        return (1 - t).mean()
            """,
        },
        wrong={
            "alpha and beta swapped": (
                _tversky(
                    _PER_SAMPLE + "        return (1 - (tp + self.smooth)"
                    " / (tp + self.beta * fp + self.alpha * fn + self.smooth)).mean()\n"
                ),
                "α = 0.3, β = 0.7",
            ),
            "wrong defaults": (
                _tversky(_PER_SAMPLE + _RIGHT_RETURN, init="alpha=0.3, beta=0.7, smooth=1.0"),
                "the defaults",
            ),
            "batch-wide": (
                _tversky(
                    "        p, t = torch.sigmoid(logits), masks\n"
                    "        tp, fp, fn = (p * t).sum(), (p * (1 - t)).sum(), ((1 - p) * t).sum()\n"
                    "        return 1 - (tp + self.smooth)"
                    " / (tp + self.alpha * fp + self.beta * fn + self.smooth)\n"
                ),
                "per sample",
            ),
            "sum over the samples": (
                _tversky(_PER_SAMPLE + _RIGHT_RETURN.replace(".mean()", ".sum()")),
                "is the dice loss",
            ),
            "fixed image dims": (
                _tversky(
                    "        p, t, d = torch.sigmoid(logits), masks, (1, 2, 3)\n"
                    "        tp, fp, fn = (p * t).sum(d), (p * (1 - t)).sum(d), ((1 - p) * t).sum(d)\n"
                    + _RIGHT_RETURN
                ),
                "(N, D) inputs",
            ),
            "returns the index, not 1 - T": (
                _tversky(
                    _PER_SAMPLE + "        return ((tp + self.smooth)"
                    " / (tp + self.alpha * fp + self.beta * fn + self.smooth)).mean()\n"
                ),
                "mean of 1 - T",
            ),
            "a plain class, not a module": (
                """
                class TverskyLoss:
                    def __init__(self, *, alpha=0.5, beta=0.5, smooth=1.0):
                        self.alpha, self.beta, self.smooth = alpha, beta, smooth

                    def __call__(self, logits, masks):
                        return tversky_loss_value(logits, masks)
                """,
                "must subclass nn.Module",
            ),
        },
    ),
    "losses-ex-5": Answers(
        right={
            "focal loss with alpha from the class frequencies": """
                from tutorial_lib.losses import sigmoid_focal_loss


                def make_imbalance_loss(train_targets):
                    alpha = 1 - train_targets.mean().item()  # the rare class gets the large weight
                    return lambda logits, targets: sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=1.0)
            """,
            "per-sample weights, normalised by class": """
                def make_imbalance_loss(train_targets):
                    share = train_targets.mean()

                    def loss(logits, targets):
                        per = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
                        w = torch.where(targets > 0, 0.5 / share, 0.5 / (1 - share))
                        return (w * per).mean()

                    return loss
            """,
        },
        wrong={
            "plain BCE": (
                "def make_imbalance_loss(train_targets):\n"
                "    return F.binary_cross_entropy_with_logits\n",
                "the rare class needs more weight",
            ),
            "pos_weight inverted": (
                _imbalance("train_targets.sum() / (1 - train_targets).sum()"),
                "minority recall is 0.00",
            ),
            "square root of the ratio": (
                _imbalance("((1 - train_targets).sum() / train_targets.sum()).sqrt()"),
                "below 0.8",
            ),
            "hard-coded for 5% positives": (
                _imbalance("19.0"),
                "with 20% positives the specificity",
            ),
            "twice the ratio": (
                _imbalance("2 * (1 - train_targets).sum() / train_targets.sum()"),
                "weighs too much",
            ),
            "focal loss with its default alpha = 0.25": (
                """
                from tutorial_lib.losses import sigmoid_focal_loss


                def make_imbalance_loss(train_targets):
                    return sigmoid_focal_loss
                """,
                "the rare class needs more weight",
            ),
        },
    ),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK, ANSWERS), ids=str)
def test_exercise(grader, case):
    verify(grader, case)
