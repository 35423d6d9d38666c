"""Answers to the exercises of "Feature extraction and detection heads", right and wrong
(see harness.py)."""

import pytest

from harness import Answers, cases, verify

NOTEBOOK = "feature_extraction"

ANSWERS = {
    "features-ex-1": Answers(
        right={
            "handles kept in a dict, outputs cloned": """
                def capture_outputs(model, x, names):
                    outputs, handles = {}, {}

                    def make_hook(name):
                        def hook(module, args, output):
                            outputs[name] = output.clone()
                        return hook

                    modules = dict(model.named_modules())
                    try:
                        for name in names:
                            handles[name] = modules[name].register_forward_hook(make_hook(name))
                        model(x)
                    finally:
                        for handle in handles.values():
                            handle.remove()
                    return {name: outputs[name] for name in names}
            """,
            "functools.partial and a with-statement-free finally": """
                import functools

                def capture_outputs(model, x, names):
                    found = {}

                    def store(name, module, inputs, output):
                        found[name] = output

                    handles = [model.get_submodule(n).register_forward_hook(functools.partial(store, n))
                               for n in names]
                    try:
                        model(x)
                        return {n: found[n] for n in names}
                    finally:
                        for h in handles:
                            h.remove()
            """,
        },
        wrong={
            "no try/finally": (
                """
                def capture_outputs(model, x, names):
                    captured, handles = {}, []
                    for name in names:
                        def keep(module, inputs, output, name=name):
                            captured[name] = output
                        handles.append(model.get_submodule(name).register_forward_hook(keep))
                    model(x)
                    for handle in handles:
                        handle.remove()
                    return {name: captured[name] for name in names}
                """,
                "when the forward pass raises",
            ),
            "the chapter's loop over children": (
                """
                def capture_outputs(model, x, names):
                    return features_by_hand(model, x, names)
                """,
                "never called model(x)",
            ),
            "create_feature_extractor": (
                """
                def capture_outputs(model, x, names):
                    return create_feature_extractor(model, return_nodes=list(names))(x)
                """,
                "trace",
            ),
            "in the order the model ran them": (
                """
                def capture_outputs(model, x, names):
                    captured, handles = {}, []
                    try:
                        for name in names:
                            def keep(module, inputs, output, name=name):
                                captured[name] = output
                            handles.append(model.get_submodule(name).register_forward_hook(keep))
                        model(x)
                    finally:
                        for handle in handles:
                            handle.remove()
                    return captured
                """,
                "order",
            ),
            "no_grad inside": (
                """
                def capture_outputs(model, x, names):
                    captured, handles = {}, []
                    try:
                        for name in names:
                            def keep(module, inputs, output, name=name):
                                captured[name] = output
                            handles.append(model.get_submodule(name).register_forward_hook(keep))
                        with torch.no_grad():
                            model(x)
                    finally:
                        for handle in handles:
                            handle.remove()
                    return {name: captured[name] for name in names}
                """,
                "gradient",
            ),
            "model.eval() inside": (
                """
                def capture_outputs(model, x, names):
                    captured, handles = {}, []
                    model.eval()
                    try:
                        for name in names:
                            def keep(module, inputs, output, name=name):
                                captured[name] = output
                            handles.append(model.get_submodule(name).register_forward_hook(keep))
                        model(x)
                    finally:
                        for handle in handles:
                            handle.remove()
                    return {name: captured[name] for name in names}
                """,
                "mode",
            ),
            "one forward pass per name": (
                """
                def capture_outputs(model, x, names):
                    result = {}
                    for name in names:
                        box = []
                        handle = model.get_submodule(name).register_forward_hook(
                            lambda module, inputs, output: box.append(output))
                        try:
                            model(x)
                        finally:
                            handle.remove()
                        result[name] = box[0]
                    return result
                """,
                "once",
            ),
            "a forward pre-hook": (
                """
                def capture_outputs(model, x, names):
                    captured, handles = {}, []
                    try:
                        for name in names:
                            def keep(module, inputs, name=name):
                                captured[name] = inputs[0]
                            handles.append(model.get_submodule(name).register_forward_pre_hook(keep))
                        model(x)
                    finally:
                        for handle in handles:
                            handle.remove()
                    return {name: captured[name] for name in names}
                """,
                "input",
            ),
            "the hooks never removed": (
                """
                def capture_outputs(model, x, names):
                    captured = {}
                    for name in names:
                        def keep(module, inputs, output, name=name):
                            captured[name] = output
                        model.get_submodule(name).register_forward_hook(keep)
                    model(x)
                    return {name: captured[name] for name in names}
                """,
                "remove",
            ),
        },
    ),
    "features-ex-2": Answers(
        right={
            "a 1x1 convolution per class, bias and 1/K included": """
                def class_activation_map(features, fc_weight, classes, size):
                    all_maps = F.conv2d(features, fc_weight[:, :, None, None]) / features.shape[1] + 3.0
                    cams = all_maps[torch.arange(len(classes)), classes]  # (N, h, w)
                    cams = F.interpolate(cams[:, None], size=size, mode="bilinear")[:, 0]
                    flat = cams.flatten(1)
                    low, high = flat.min(dim=1).values, flat.max(dim=1).values
                    return (cams - low[:, None, None]) / (high - low)[:, None, None]
            """,
        },
        wrong={
            "the chapter's digits instead of the argument": (
                """
                def class_activation_map(features, fc_weight, classes, size):
                    block4 = create_feature_extractor(digits_cnn, return_nodes=["block4"])(digit_images)["block4"]
                    weights = fc_weight[classes]
                    cams = torch.einsum("nkhw,nk->nhw", block4, weights).unsqueeze(1)
                    cams = F.interpolate(cams, size=size, mode="bilinear", align_corners=False)[:, 0]
                    low = cams.amin(dim=(1, 2), keepdim=True)
                    high = cams.amax(dim=(1, 2), keepdim=True)
                    return (cams - low) / (high - low)
                """,
                "features the check made up",
            ),
            "scaled over the whole batch": (
                """
                def class_activation_map(features, fc_weight, classes, size):
                    weights = fc_weight[classes]
                    cams = torch.einsum("nkhw,nk->nhw", features, weights).unsqueeze(1)
                    cams = F.interpolate(cams, size=size, mode="bilinear", align_corners=False)[:, 0]
                    return (cams - cams.min()) / (cams.max() - cams.min())
                """,
                "per image",
            ),
            "align_corners=True": (
                """
                def class_activation_map(features, fc_weight, classes, size):
                    weights = fc_weight[classes]
                    cams = torch.einsum("nkhw,nk->nhw", features, weights).unsqueeze(1)
                    cams = F.interpolate(cams, size=size, mode="bilinear", align_corners=True)[:, 0]
                    low = cams.amin(dim=(1, 2), keepdim=True)
                    high = cams.amax(dim=(1, 2), keepdim=True)
                    return (cams - low) / (high - low)
                """,
                "align_corners",
            ),
            "scaled before upsampling": (
                """
                def class_activation_map(features, fc_weight, classes, size):
                    weights = fc_weight[classes]
                    cams = torch.einsum("nkhw,nk->nhw", features, weights).unsqueeze(1)
                    low = cams.amin(dim=(2, 3), keepdim=True)
                    high = cams.amax(dim=(2, 3), keepdim=True)
                    cams = (cams - low) / (high - low)
                    return F.interpolate(cams, size=size, mode="bilinear", align_corners=False)[:, 0]
                """,
                "after upsampling",
            ),
            "the plain channel mean": (
                """
                def class_activation_map(features, fc_weight, classes, size):
                    return mean_activation_map(features, size=size)
                """,
                "fc_weight",
            ),
            "divided by the maximum only": (
                """
                def class_activation_map(features, fc_weight, classes, size):
                    weights = fc_weight[classes]
                    cams = torch.einsum("nkhw,nk->nhw", features, weights).unsqueeze(1)
                    cams = F.interpolate(cams, size=size, mode="bilinear", align_corners=False)[:, 0]
                    return cams / cams.amax(dim=(1, 2), keepdim=True)
                """,
                "minimum",
            ),
            "a channel dimension left in": (
                """
                def class_activation_map(features, fc_weight, classes, size):
                    weights = fc_weight[classes]
                    cams = torch.einsum("nkhw,nk->nhw", features, weights).unsqueeze(1)
                    cams = F.interpolate(cams, size=size, mode="bilinear", align_corners=False)
                    low = cams.amin(dim=(2, 3), keepdim=True)
                    high = cams.amax(dim=(2, 3), keepdim=True)
                    return (cams - low) / (high - low)
                """,
                "shape",
            ),
        },
    ),
    "features-ex-3": Answers(
        right={
            "set_submodule, a copy of the model": """
                import copy

                def adapt_keypoint_rcnn(model, num_classes, num_keypoints):
                    model = copy.deepcopy(model)
                    box_in = model.get_submodule("roi_heads.box_predictor.cls_score").in_features
                    kp_in = model.get_submodule("roi_heads.keypoint_predictor.kps_score_lowres").in_channels
                    model.set_submodule("roi_heads.box_predictor", FastRCNNPredictor(box_in, num_classes))
                    model.set_submodule("roi_heads.keypoint_predictor", KeypointRCNNPredictor(kp_in, num_keypoints))
                    return model
            """,
        },
        wrong={
            "the chapter's sizes hard-coded": (
                """
                def adapt_keypoint_rcnn(model, num_classes, num_keypoints):
                    model.roi_heads.box_predictor = FastRCNNPredictor(1024, num_classes)
                    model.roi_heads.keypoint_predictor = KeypointRCNNPredictor(512, num_keypoints)
                    return model
                """,
                "smaller",
            ),
            "only the inner layer replaced, as in note 001": (
                """
                def adapt_keypoint_rcnn(model, num_classes, num_keypoints):
                    heads = model.roi_heads
                    heads.box_predictor = FastRCNNPredictor(heads.box_predictor.cls_score.in_features, num_classes)
                    in_channels = heads.keypoint_predictor.kps_score_lowres.in_channels
                    heads.keypoint_predictor.kps_score_lowres = nn.ConvTranspose2d(
                        in_channels, num_keypoints, 4, stride=2, padding=1)
                    return model
                """,
                "KeypointRCNNPredictor",
            ),
            "one more class for the background": (
                """
                def adapt_keypoint_rcnn(model, num_classes, num_keypoints):
                    heads = model.roi_heads
                    heads.box_predictor = FastRCNNPredictor(heads.box_predictor.cls_score.in_features, num_classes + 1)
                    heads.keypoint_predictor = KeypointRCNNPredictor(
                        heads.keypoint_predictor.kps_score_lowres.in_channels, num_keypoints)
                    return model
                """,
                "background",
            ),
            "the box predictor left alone": (
                """
                def adapt_keypoint_rcnn(model, num_classes, num_keypoints):
                    heads = model.roi_heads
                    heads.keypoint_predictor = KeypointRCNNPredictor(
                        heads.keypoint_predictor.kps_score_lowres.in_channels, num_keypoints)
                    return model
                """,
                "box_predictor",
            ),
            "the output size read as the input size": (
                """
                def adapt_keypoint_rcnn(model, num_classes, num_keypoints):
                    heads = model.roi_heads
                    heads.box_predictor = FastRCNNPredictor(heads.box_predictor.cls_score.out_features, num_classes)
                    heads.keypoint_predictor = KeypointRCNNPredictor(
                        heads.keypoint_predictor.kps_score_lowres.in_channels, num_keypoints)
                    return model
                """,
                "in_features",
            ),
        },
    ),
    "features-ex-4": Answers(
        right={
            "the first five children, averaged": """
                def cheap_features(model, images):
                    first = nn.Sequential(*list(model.children())[:5])  # block1 ... block3
                    return first(images).mean(dim=(2, 3))
            """,
            "a loop that stops at block3": """
                def cheap_features(model, images):
                    x = images
                    for name, child in model.named_children():
                        x = child(x)
                        if name == "block3":
                            return x.flatten(2).mean(dim=2)
            """,
        },
        wrong={
            "block2, averaged": (
                """
                def cheap_features(model, images):
                    return create_feature_extractor(model, return_nodes=["block2"])(images)["block2"].mean(dim=(2, 3))
                """,
                "below 0.95",
            ),
            "block4 through hooks": (
                """
                def cheap_features(model, images):
                    return capture_outputs(model, images, ["block4"])["block4"].mean(dim=(2, 3))
                """,
                "block4",
            ),
            "the logits": (
                """
                def cheap_features(model, images):
                    return model(images)
                """,
                "ran",
            ),
            "block3 flattened": (
                """
                def cheap_features(model, images):
                    return create_feature_extractor(model, return_nodes=["block3"])(images)["block3"].flatten(1)
                """,
                "more than 32",
            ),
            "the raw pixels": (
                """
                def cheap_features(model, images):
                    return F.adaptive_avg_pool2d(images, 5).flatten(1)
                """,
                "below 0.95",
            ),
            "the chapter's eight digits": (
                """
                def cheap_features(model, images):
                    return nn.Sequential(*list(model.children())[:5])(digit_images).mean(dim=(2, 3))
                """,
                "one row of features per image",
            ),
        },
    ),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK, ANSWERS), ids=str)
def test_exercise(grader, case):
    verify(grader, case)
