"""Answers to the exercises of "Modifying models", right and wrong (see harness.py)."""

import pytest

from harness import Answers, cases, verify

NOTEBOOK = "modifying_models"

ANSWERS = {
    "modifying-ex-1": Answers(
        right={
            "walk backwards": """
                def last_linear_name(model):
                    for name, module in reversed(list(model.named_modules())):
                        if isinstance(module, nn.Linear):
                            return name
                    raise ValueError("no nn.Linear in this model")
            """,
            "keep the last one seen": """
                def last_linear_name(model):
                    last = None
                    for name, module in model.named_modules():
                        if isinstance(module, nn.Linear):
                            last = name
                    if last is None:
                        raise ValueError(f"{type(model).__name__} has no nn.Linear")
                    return last
            """,
        },
        wrong={
            "the first linear layer": (
                """
                def last_linear_name(model):
                    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
                    if not names:
                        raise ValueError("no nn.Linear")
                    return names[0]
                """,
                "expected 'classifier.6', got 'classifier.1'",
            ),
            "the last child's name": (
                """
                def last_linear_name(model):
                    if not any(isinstance(m, nn.Linear) for m in model.modules()):
                        raise ValueError("no nn.Linear")
                    return list(model.named_children())[-1][0]
                """,
                "got 'classifier'",
            ),
            "top-level children only": (
                """
                def last_linear_name(model):
                    names = [n for n, m in model.named_children() if isinstance(m, nn.Linear)]
                    if not names:
                        raise ValueError("no nn.Linear")
                    return names[-1]
                """,
                "raised ValueError",
            ),
            "the visible models hard-coded": (
                """
                def last_linear_name(model):
                    if not any(isinstance(m, nn.Linear) for m in model.modules()):
                        raise ValueError("no nn.Linear")
                    return {"ResNet": "fc", "AlexNet": "classifier.6", "MobileNetV3": "classifier.3",
                            "Sequential": "3"}[type(model).__name__]
                """,
                "a model the check builds",
            ),
            "exact type instead of isinstance": (
                """
                def last_linear_name(model):
                    names = [n for n, m in model.named_modules() if type(m) is nn.Linear]
                    if not names:
                        raise ValueError("no nn.Linear")
                    return names[-1]
                """,
                "isinstance",
            ),
            "IndexError instead of ValueError": (
                """
                def last_linear_name(model):
                    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
                """,
                "ValueError",
            ),
            "None instead of an error": (
                """
                def last_linear_name(model):
                    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
                    return names[-1] if names else None
                """,
                "ValueError",
            ),
        },
    ),
    "modifying-ex-2": Answers(
        right={
            "a deep copy with one channel": """
                def grey_first_conv(conv):
                    new = copy.deepcopy(conv)
                    new.weight = nn.Parameter(conv.weight.detach().sum(dim=1, keepdim=True).clone())
                    new.in_channels = 1
                    return new
            """,
            "every argument by keyword, .data": """
                def grey_first_conv(conv):
                    new = nn.Conv2d(in_channels=1, out_channels=conv.out_channels,
                                    kernel_size=conv.kernel_size, stride=conv.stride,
                                    padding=conv.padding, dilation=conv.dilation,
                                    bias=conv.bias is not None, padding_mode=conv.padding_mode)
                    new.weight.data = conv.weight.data.sum(1, keepdim=True)
                    if conv.bias is not None:
                        new.bias.data = conv.bias.data.clone()
                    return new
            """,
        },
        wrong={
            "dilation ignored": (
                """
                def grey_first_conv(conv):
                    new = nn.Conv2d(1, conv.out_channels, conv.kernel_size, stride=conv.stride,
                                    padding=conv.padding, bias=conv.bias is not None,
                                    padding_mode=conv.padding_mode)
                    with torch.no_grad():
                        new.weight.copy_(conv.weight.sum(dim=1, keepdim=True))
                        if conv.bias is not None:
                            new.bias.copy_(conv.bias)
                    return new
                """,
                "dilation",
            ),
            "conv itself changed and returned": (
                """
                def grey_first_conv(conv):
                    conv.weight = nn.Parameter(conv.weight.detach().sum(dim=1, keepdim=True))
                    conv.in_channels = 1
                    return conv
                """,
                "do not change conv",
            ),
            "the bias shared with conv": (
                """
                def grey_first_conv(conv):
                    new = nn.Conv2d(1, conv.out_channels, conv.kernel_size, stride=conv.stride,
                                    padding=conv.padding, dilation=conv.dilation,
                                    bias=conv.bias is not None, padding_mode=conv.padding_mode)
                    new.weight = nn.Parameter(conv.weight.detach().sum(dim=1, keepdim=True))
                    if conv.bias is not None:
                        new.bias = conv.bias
                    return new
                """,
                "shares",
            ),
            "the filters averaged": (
                """
                def grey_first_conv(conv):
                    new = copy.deepcopy(conv)
                    new.weight = nn.Parameter(conv.weight.detach().mean(dim=1, keepdim=True))
                    new.in_channels = 1
                    return new
                """,
                "averag",
            ),
            "the red filters only": (
                """
                def grey_first_conv(conv):
                    new = copy.deepcopy(conv)
                    new.weight = nn.Parameter(conv.weight.detach()[:, :1].clone())
                    new.in_channels = 1
                    return new
                """,
                "sum the filters",
            ),
            "the bias not copied": (
                """
                def grey_first_conv(conv):
                    new = nn.Conv2d(1, conv.out_channels, conv.kernel_size, stride=conv.stride,
                                    padding=conv.padding, dilation=conv.dilation,
                                    bias=conv.bias is not None, padding_mode=conv.padding_mode)
                    with torch.no_grad():
                        new.weight.copy_(conv.weight.sum(dim=1, keepdim=True))
                    return new
                """,
                "bias",
            ),
            "in_channels still says 3": (
                """
                def grey_first_conv(conv):
                    new = copy.deepcopy(conv)
                    new.weight = nn.Parameter(conv.weight.detach().sum(dim=1, keepdim=True))
                    return new
                """,
                "in_channels",
            ),
            "adapt_first_conv": (
                """
                def grey_first_conv(conv):
                    return adapt_first_conv(conv, 1)
                """,
                "adapt_first_conv",
            ),
        },
    ),
    "modifying-ex-3": Answers(
        right={
            "index of the end of the subtree": """
                def freeze_until(model, name):
                    model.get_submodule(name)
                    names = [n for n, _ in model.named_modules()]
                    end = max(i for i, n in enumerate(names) if n == name or n.startswith(name + "."))
                    for i, (_, module) in enumerate(model.named_modules()):
                        for param in module.parameters(recurse=False):
                            param.requires_grad_(i > end)
                    return model
            """,
            "freeze all, then thaw what follows": """
                def freeze_until(model, name):
                    if name not in dict(model.named_modules()):
                        raise KeyError(f"no submodule {name!r}")
                    model.requires_grad_(False)
                    seen = after = False
                    for module_name, module in model.named_modules():
                        if module_name == name:
                            seen = True
                            continue
                        if seen and not module_name.startswith(name + "."):
                            after = True
                        if after:
                            for param in module.parameters(recurse=False):
                                param.requires_grad = True
                    return model
            """,
        },
        wrong={
            "the old reference: parameter-name prefixes": (
                """
                def freeze_until(model, name):
                    model.get_submodule(name)
                    prefix = name + "."
                    reached = passed = False
                    for param_name, param in model.named_parameters():
                        inside = param_name.startswith(prefix)
                        reached = reached or inside
                        passed = passed or (reached and not inside)
                        param.requires_grad_(passed)
                    return model
                """,
                '"maxpool"',
            ),
            "no error for an unknown name": (
                """
                def freeze_until(model, name):
                    names = [n for n, _ in model.named_modules()]
                    end = max((i for i, n in enumerate(names) if n == name or n.startswith(name + ".")),
                              default=len(names))
                    for i, (_, module) in enumerate(model.named_modules()):
                        for param in module.parameters(recurse=False):
                            param.requires_grad_(i > end)
                    return model
                """,
                "did not raise",
            ),
            "later parameters never unfrozen": (
                """
                def freeze_until(model, name):
                    model.get_submodule(name)
                    names = [n for n, _ in model.named_modules()]
                    end = max(i for i, n in enumerate(names) if n == name or n.startswith(name + "."))
                    for i, (_, module) in enumerate(model.named_modules()):
                        if i <= end:
                            module.requires_grad_(False)
                    return model
                """,
                "should be trainable",
            ),
            "the named layer left trainable": (
                """
                def freeze_until(model, name):
                    model.get_submodule(name)
                    frozen = True
                    for param_name, param in model.named_parameters():
                        if param_name.startswith(name + "."):
                            frozen = False
                        param.requires_grad_(not frozen)
                    return model
                """,
                "should be frozen",
            ),
            "a prefix without the dot": (
                """
                def freeze_until(model, name):
                    model.get_submodule(name)
                    reached = passed = False
                    for param_name, param in model.named_parameters():
                        inside = param_name.startswith(name)
                        reached = reached or inside
                        passed = passed or (reached and not inside)
                        param.requires_grad_(passed)
                    return model
                """,
                "should be trainable",
            ),
            "the error raised after freezing": (
                """
                def freeze_until(model, name):
                    names = [n for n, _ in model.named_modules()]
                    found = False
                    for i, (module_name, module) in enumerate(model.named_modules()):
                        for param in module.parameters(recurse=False):
                            param.requires_grad_(found and not module_name.startswith(name + "."))
                        found = found or module_name == name
                    if not found:
                        raise AttributeError(f"no submodule {name!r}")
                    return model
                """,
                "before changing",
            ),
            "requires_grad set on the module": (
                """
                def freeze_until(model, name):
                    model.get_submodule(name)
                    frozen = True
                    for module_name, module in model.named_modules():
                        module.requires_grad = not frozen
                        if module_name == name:
                            frozen = False
                    return model
                """,
                "should be frozen",
            ),
            "the model not returned": (
                """
                def freeze_until(model, name):
                    model.get_submodule(name)
                    names = [n for n, _ in model.named_modules()]
                    end = max(i for i, n in enumerate(names) if n == name or n.startswith(name + "."))
                    for i, (_, module) in enumerate(model.named_modules()):
                        for param in module.parameters(recurse=False):
                            param.requires_grad_(i > end)
                """,
                "return the model",
            ),
        },
    ),
    "modifying-ex-4": Answers(
        right={
            "torch.cat by hand, the category first": """
                class WithCategory(nn.Module):
                    def __init__(self, backbone, num_features, num_categories, embedding_dim, num_classes):
                        super().__init__()
                        self.backbone = backbone
                        self.embed = nn.Embedding(num_categories, embedding_dim)
                        self.fc = nn.Linear(embedding_dim + num_features, num_classes)

                    def forward(self, x, category):
                        return self.fc(torch.cat([self.embed(category), self.backbone(x)], dim=1))
            """,
        },
        wrong={
            "a Softmax at the end": (
                """
                class WithCategory(nn.Module):
                    def __init__(self, backbone, num_features, num_categories, embedding_dim, num_classes):
                        super().__init__()
                        self.embedding = nn.Embedding(num_categories, embedding_dim)
                        self.model = WithExtraInput(backbone, nn.Linear(num_features + embedding_dim, num_classes))

                    def forward(self, x, category):
                        return self.model(x, self.embedding(category)).softmax(dim=1)
                """,
                "logits",
            ),
            "the backbone features detached": (
                """
                class WithCategory(nn.Module):
                    def __init__(self, backbone, num_features, num_categories, embedding_dim, num_classes):
                        super().__init__()
                        self.backbone = backbone
                        self.embedding = nn.Embedding(num_categories, embedding_dim)
                        self.fc = nn.Linear(num_features + embedding_dim, num_classes)

                    def forward(self, x, category):
                        features = self.backbone(x).detach()
                        return self.fc(torch.cat([features, self.embedding(category)], dim=1))
                """,
                "no gradient reached the backbone",
            ),
            "the category as one number": (
                """
                class WithCategory(nn.Module):
                    def __init__(self, backbone, num_features, num_categories, embedding_dim, num_classes):
                        super().__init__()
                        self.model = WithExtraInput(backbone, nn.Linear(num_features + 1, num_classes))

                    def forward(self, x, category):
                        return self.model(x, category.float())
                """,
                "parameters",
            ),
            "the embedding never used": (
                """
                class WithCategory(nn.Module):
                    def __init__(self, backbone, num_features, num_categories, embedding_dim, num_classes):
                        super().__init__()
                        self.embedding = nn.Embedding(num_categories, embedding_dim)
                        self.model = WithExtraInput(backbone, nn.Linear(num_features + embedding_dim, num_classes))
                        self.embedding_dim = embedding_dim

                    def forward(self, x, category):
                        return self.model(x, torch.zeros(len(x), self.embedding_dim))
                """,
                "category does not change",
            ),
            "the check's sizes hard-coded": (
                """
                class WithCategory(nn.Module):
                    def __init__(self, backbone, num_features, num_categories, embedding_dim, num_classes):
                        super().__init__()
                        self.embedding = nn.Embedding(3, 5)
                        self.model = WithExtraInput(backbone, nn.Linear(8 + 5, 10))

                    def forward(self, x, category):
                        return self.model(x, self.embedding(category))
                """,
                "parameters",
            ),
        },
    ),
    "modifying-ex-5": Answers(
        right={
            "the first pooling made adaptive": """
                def any_size(source):
                    model = copy.deepcopy(source)
                    model.pool1 = nn.AdaptiveMaxPool2d(8)  # any size -> 8x8, as 16x16 gave
                    return model
            """,
            "nearest-neighbour resizing in a Sequential": """
                def any_size(source):
                    return nn.Sequential(nn.Upsample(size=(16, 16), mode="nearest"), copy.deepcopy(source))
            """,
        },
        wrong={
            "a new fc after adaptive pooling": (
                """
                def any_size(source):
                    model = copy.deepcopy(source)
                    model.flatten = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
                    model.fc = nn.Linear(32, 5)
                    return model
                """,
                "the source model's accuracy at 16x16",
            ),
            "the source changed, then copied": (
                """
                def any_size(source):
                    source.flatten = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(1))
                    return copy.deepcopy(source)
                """,
                "changed the source model",
            ),
            "the source itself returned": (
                """
                def any_size(source):
                    source.pool1 = nn.AdaptiveMaxPool2d(8)
                    return source
                """,
                "source model itself",
            ),
            "the layers shared with the source": (
                """
                def any_size(source):
                    return nn.Sequential(nn.Upsample(size=(16, 16), mode="bilinear"), source)
                """,
                "shares parameters",
            ),
            "made for 32x32 only": (
                """
                def any_size(source):
                    return nn.Sequential(nn.AvgPool2d(2), copy.deepcopy(source))
                """,
                "on 16x16 digits",
            ),
        },
    ),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK, ANSWERS), ids=str)
def test_exercise(grader, case):
    verify(grader, case)
