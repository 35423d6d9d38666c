"""Answers to the exercises of "Defining models", right and wrong (see harness.py)."""

import pytest

from harness import Answers, cases, verify

NOTEBOOK = "defining_models"

ANSWERS = {
    "defining-models-ex-3": Answers(
        right={
            "children kept in a ModuleDict-free loop": """
                class TinySequential(nn.Module):
                    def __init__(self, *args):
                        super().__init__()
                        pairs = args[0].items() if len(args) == 1 and isinstance(args[0], OrderedDict) else enumerate(args)
                        for name, layer in pairs:
                            self.add_module(str(name), layer)

                    def __len__(self):
                        return len(self._modules)

                    def __getitem__(self, i):
                        return list(self.children())[i]

                    def forward(self, x):
                        for layer in self.children():
                            x = layer(x)
                        return x
            """,
        },
        wrong={
            "only an OrderedDict": (
                """
                class TinySequential(nn.Module):
                    def __init__(self, *args):
                        super().__init__()
                        for name, layer in args[0].items():
                            self.add_module(name, layer)

                    def __len__(self):
                        return len(self._modules)

                    def __getitem__(self, i):
                        return list(self._modules.values())[i]

                    def forward(self, x):
                        for layer in self._modules.values():
                            x = layer(x)
                        return x
                """,
                "positional",
            ),
        },
    ),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK, ANSWERS), ids=str)
def test_exercise(grader, case):
    verify(grader, case)
