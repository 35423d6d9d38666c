"""The check of the exercise "A category as an extra input" (modifying-ex-4).

Taught in: "Modifying models" (exercise "A category as an extra input").
"""

from __future__ import annotations

import torch
from torch import nn

from .._shared import call
from ..core import CheckFailed, exercise_check

__all__ = ["check_with_category"]


@exercise_check("WithCategory")
def check_with_category(with_category: type[nn.Module]) -> str:
    """``WithCategory(backbone, num_features, num_categories, embedding_dim,
    num_classes)`` must hold the backbone, an ``nn.Embedding(num_categories,
    embedding_dim)`` and one ``nn.Linear(num_features + embedding_dim, num_classes)``
    (checked by counting parameters, for two sets of sizes), return logits of shape
    ``(N, num_classes)``, let the category change the output by the same amount for
    every image, and pass gradients to the backbone and the embedding.

    Taught in: "Modifying models" (exercises).
    """
    torch.manual_seed(0)
    configs = [
        (
            nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(1)),
            8,
            3,
            5,
            10,
        ),
        (
            nn.Sequential(
                nn.Conv2d(3, 6, 3),
                nn.Tanh(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(1),
                nn.Linear(6, 12),
            ),
            12,
            7,
            4,
            2,
        ),
    ]
    pictures = torch.rand(4, 3, 16, 16)
    for backbone, features, categories, dim, classes in configs:
        sizes = f"WithCategory(backbone, {features}, {categories}, {dim}, {classes})"
        model = call(with_category, backbone, features, categories, dim, classes, what=sizes)
        if not isinstance(model, nn.Module):
            raise CheckFailed(f"{sizes}: expected an nn.Module, got {type(model).__name__}")
        own = sum(p.numel() for p in backbone.parameters())
        wanted = own + categories * dim + (features + dim) * classes + classes
        total = sum(p.numel() for p in model.parameters())
        if total != wanted:
            raise CheckFailed(
                f"{sizes}: expected {wanted:,} parameters (backbone {own:,} + embedding "
                f"{categories}x{dim} + linear ({features} + {dim})x{classes} + {classes}), "
                f"got {total:,}; "
                "use the sizes you are given"
            )
        embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
        if not any(e.num_embeddings == categories and e.embedding_dim == dim for e in embeddings):
            raise CheckFailed(
                f"{sizes}: expected an nn.Embedding({categories}, {dim}) in the model"
            )
        model.eval()
        with torch.no_grad():
            out = call(model, pictures, torch.arange(4) % categories, what=f"{sizes} forward")
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != (4, classes):
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise CheckFailed(f"{sizes}: expected output shape (4, {classes}), got {shape}")
            if (out >= 0).all() and torch.allclose(out.sum(dim=1), torch.ones(4), atol=1e-5):
                raise CheckFailed(
                    f"{sizes}: the outputs are probabilities (rows sum to 1); return logits, "
                    "CrossEntropyLoss applies log_softmax itself"
                )
            two = pictures[:2]
            per_category = torch.stack(
                [model(two, torch.full((2,), c, dtype=torch.long)) for c in range(categories)]
            )  # (categories, 2, classes)
        shifts = per_category - per_category[:1]  # effect of each category against category 0
        if any(torch.allclose(per_category[c], per_category[0]) for c in range(1, categories)):
            raise CheckFailed(
                f"{sizes}: the category does not change the output; use the embedding"
            )
        if not torch.allclose(shifts[:, 0], shifts[:, 1], atol=1e-5):
            raise CheckFailed(
                f"{sizes}: the category's effect on the logits depends on the image; join the "
                "embedding with the features right before the one final nn.Linear"
            )
        model.zero_grad()
        call(
            model, pictures, torch.arange(4) % categories, what=f"{sizes} forward"
        ).sum().backward()
        if not any(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters()):
            raise CheckFailed(
                f"{sizes}: no gradient reached the backbone you were given (detached, under "
                "no_grad, or a copy?); training must be able to fine-tune it"
            )
        if not all(e.weight.grad is not None for e in embeddings):
            raise CheckFailed(f"{sizes}: no gradient reached the embedding")
    return (
        "parameters, output shape, logits, an additive category effect and gradients, for "
        "two sets of sizes."
    )
