"""Answers to the exercises of "Hooks, parametrizations and adapters", right and wrong
(see harness.py)."""

import pytest

from harness import Answers, cases, verify

NOTEBOOK = "hooks_adapters"

ANSWERS = {
    "hooks-ex-1": Answers(
        right={
            "a comprehension, then clear and update": """
                def features_to_body(module, state_dict, prefix, local_metadata, strict,
                                     missing_keys, unexpected_keys, error_msgs):
                    old, new = prefix + "features.", prefix + "body."
                    renamed = {(new + k[len(old):] if k.startswith(old) else k): v
                               for k, v in state_dict.items()}
                    state_dict.clear()
                    state_dict.update(renamed)
            """,
            "the library's hook": """
                def features_to_body(module, state_dict, prefix, *rest):
                    for key in [k for k in state_dict if k.startswith(f"{prefix}features.")]:
                        rest_of_key = key.removeprefix(f"{prefix}features.")
                        state_dict[f"{prefix}body.{rest_of_key}"] = state_dict.pop(key)
            """,
        },
        wrong={
            "ignores the prefix": (
                """
                def features_to_body(module, state_dict, prefix, local_metadata, strict,
                                     missing_keys, unexpected_keys, error_msgs):
                    for key in list(state_dict):
                        if key.startswith("features."):
                            state_dict["body." + key[len("features."):]] = state_dict.pop(key)
                """,
                "inside a ModuleDict",
            ),
            "str.replace renames extra_features too": (
                """
                def features_to_body(module, state_dict, prefix, local_metadata, strict,
                                     missing_keys, unexpected_keys, error_msgs):
                    for key in list(state_dict):
                        state_dict[key.replace("features.", "body.")] = state_dict.pop(key)
                """,
                "extra_features",
            ),
            "returns a new dict instead of changing it": (
                """
                def features_to_body(module, state_dict, prefix, local_metadata, strict,
                                     missing_keys, unexpected_keys, error_msgs):
                    return {k.replace(prefix + "features.", prefix + "body."): v
                            for k, v in state_dict.items()}
                """,
                "strict loading failed",
            ),
            "renames the weights only": (
                """
                def features_to_body(module, state_dict, prefix, local_metadata, strict,
                                     missing_keys, unexpected_keys, error_msgs):
                    for key in list(state_dict):
                        if key.startswith(prefix + "features.") and key.endswith("weight"):
                            state_dict[prefix + "body." + key[len(prefix + "features."):]] = (
                                state_dict.pop(key))
                """,
                "strict loading failed",
            ),
            "copies the first layer into every key": (
                """
                def features_to_body(module, state_dict, prefix, local_metadata, strict,
                                     missing_keys, unexpected_keys, error_msgs):
                    for key in list(state_dict):
                        if key.startswith(prefix + "features."):
                            value = state_dict.pop(key)
                            state_dict[prefix + "body." + key[len(prefix + "features."):]] = (
                                value.flip(0) if value.dim() else value)
                """,
                "does not hold the checkpoint's",
            ),
        },
    ),
    "hooks-ex-2": Answers(
        right={
            "exp with a floor, log inverse": """
                class Positive(nn.Module):
                    def forward(self, X):
                        return torch.exp(X.clamp(min=-60))

                    def right_inverse(self, W):
                        return torch.log(W)
            """,
            "softplus via logaddexp": """
                class Positive(nn.Module):
                    eps = 1e-4

                    def forward(self, X):
                        return torch.logaddexp(X, torch.zeros_like(X)) + self.eps

                    def right_inverse(self, W):
                        W = W - self.eps
                        return torch.where(W > 20, W, torch.log(torch.expm1(W)))
            """,
        },
        wrong={
            "abs": (
                """
                class Positive(nn.Module):
                    def forward(self, X):
                        return X.abs()

                    def right_inverse(self, W):
                        return W
                """,
                "not strictly positive",
            ),
            "relu": (
                """
                class Positive(nn.Module):
                    def forward(self, X):
                        return torch.relu(X)

                    def right_inverse(self, W):
                        return W
                """,
                "not strictly positive",
            ),
            "exp without a right_inverse": (
                """
                class Positive(nn.Module):
                    def forward(self, X):
                        return torch.exp(X.clamp(min=-60))
                """,
                "right_inverse",
            ),
            "plain softplus underflows to 0": (
                """
                class Positive(nn.Module):
                    def forward(self, X):
                        return F.softplus(X)

                    def right_inverse(self, W):
                        return torch.log(torch.expm1(W))
                """,
                "not strictly positive",
            ),
            "detaches in forward": (
                """
                class Positive(nn.Module):
                    def forward(self, X):
                        return torch.exp(X.detach().clamp(min=-60))

                    def right_inverse(self, W):
                        return torch.log(W)
                """,
                "no gradient reaches",
            ),
            "squares plus a floor, identity inverse": (
                """
                class Positive(nn.Module):
                    def forward(self, X):
                        return X * X + 1e-3

                    def right_inverse(self, W):
                        return W
                """,
                "registering changed a weight",
            ),
        },
    ),
    "hooks-ex-3": Answers(
        right={
            "rank 8 on the layer itself, a hand-written MSE": """
                def adapt(base, inputs, outputs):
                    model = add_lora(nn.Sequential(base), 8, 8.0)
                    params = [p for p in model.parameters() if p.requires_grad]
                    optimizer = torch.optim.Adam(params, lr=5e-2)
                    for _ in range(200):
                        optimizer.zero_grad()
                        ((model(inputs) - outputs) ** 2).mean().backward()
                        optimizer.step()
                    return model
            """,
        },
        wrong={
            "rank too small": (
                """
                def adapt(base, inputs, outputs):
                    model = add_lora(nn.Sequential(base), 2, 2.0)
                    params = [p for p in model.parameters() if p.requires_grad]
                    optimizer = torch.optim.Adam(params, lr=5e-2)
                    for _ in range(150):
                        optimizer.zero_grad()
                        F.mse_loss(model(inputs), outputs).backward()
                        optimizer.step()
                    return model
                """,
                "not below 0.01",
            ),
            "rank too large for the budget": (
                """
                def adapt(base, inputs, outputs):
                    return add_lora(nn.Sequential(base), 16, 16.0)
                """,
                "more than 1,024",
            ),
            "full fine-tuning of the base layer": (
                """
                def adapt(base, inputs, outputs):
                    base.requires_grad_(True)
                    optimizer = torch.optim.Adam(base.parameters(), lr=5e-2)
                    for _ in range(100):
                        optimizer.zero_grad()
                        F.mse_loss(base(inputs), outputs).backward()
                        optimizer.step()
                    return base
                """,
                "base.weight changed",
            ),
            "adapters never trained": (
                """
                def adapt(base, inputs, outputs):
                    return add_lora(nn.Sequential(base), 6, 6.0)
                """,
                "relative error",
            ),
            "bias unfrozen at rank 8": (
                """
                def adapt(base, inputs, outputs):
                    model = add_lora(nn.Sequential(base), 8, 8.0)
                    model[0].base.bias.requires_grad_(True)
                    return model
                """,
                "freeze the bias",
            ),
        },
    ),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK, ANSWERS), ids=str)
def test_exercise(grader, case):
    verify(grader, case)
