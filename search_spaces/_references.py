"""Declarations layer: the reports' own numbers, the one place each of them is written.

Spaces take their reference from here; the driver records them in each experiment's search.json,
so analysis reads them from the results folder alone.
"""

from __future__ import annotations

# Report test accuracy by model (PRACTICE_MODELS.md, table 2).
MODEL_TABLE = {
    "basenet": (0.3724, "002"), "basenet_bn_before": (0.4228, "001"),
    "basenet_bn_after": (0.4504, "001"), "basenet_batch_optimized": (0.6172, "001, complex"),
    "basenet21": (0.6252, "000"), "basenet22": (0.6908, "000"), "basenet23": (0.6784, "000"),
    "mired_v1": (0.412, "002"), "mired_v2": (0.4248, "002"), "mired_v3": (0.5268, "002"),
    "mired_v4": (0.472, "002"), "mired_v5": (0.5444, "002"), "mired_bn_v1": (0.5716, "002"),
    "mired_bn_v2": (0.6056, "002"), "mired_bn_v3": (0.6124, "002"),
}

TRANSFER_TABLES = {4: "cub200", 5: "pathmnist", 6: "cifar10"}
# (table, row key, what, report's number, its metric, source)
TRANSFER_ROWS = [
    (4, "resnet50_head", "ResNet50 frozen, GAP, FC(200)", 0.4421, "test", "000"),
    (4, "resnet50_fc_head", "ResNet50 frozen, FC(1024) head", 0.4309, "test", "000"),
    (4, "resnet50_conv_head", "ResNet50 frozen, conv head", 0.4467, "test",
     "000 (0.4355 with augmentation)"),
    (4, "resnet50_finetune:gap", "ResNet50 fine-tuned, GAP head", 0.4643, "test", "000"),
    (4, "resnet50_finetune:conv", "ResNet50 fine-tuned, conv head", 0.4824, "test", "000"),
    (4, "resnet50_extractor_fc500", "ResNet50 extractor, FC(500)", 0.3415, "test", "001"),
    (4, "resnet50_finetune:fc500", "ResNet50 fine-tuned, FC(500) head", 0.440, "test", "001"),
    (4, "inception_resnet_v2_head", "InceptionResNetV2, FC(1024) head", 0.5535, "test", "001"),
    (4, "resnet50_extractor_v1", "ResNet50 extractor V1", 0.4247, "test",
     "002 (0.4135 with early stopping)"),
    (4, "resnet50_extractor_v2", "ResNet50 extractor V2", 0.3168, "test", "002"),
    (4, "resnet50_extractor_v3", "ResNet50 extractor V3", 0.3653, "test",
     "002 (0.3769 with early stopping)"),
    (4, "resnet50_finetune:fc512", "ResNet50 fine-tuned, V1 head", 0.4942, "test",
     "002, flip (0.4566 plain, 0.4613 normalized, 0.4863 flip + zoom 0.2)"),
    (4, "resnet50_finetune:fc512_256", "ResNet50 fine-tuned, V2 head", 0.5417, "test",
     "002, normalized (0.5414 flip, 0.45862 flip + zoom 0.5)"),
    (4, "resnet50_finetune:fc1024", "ResNet50 fine-tuned, FC(1024) head", None, "test",
     "not in the reports"),
    (5, "nasnet_mobile_head", "NASNetMobile frozen, FC(9)", 0.8649, "test", "000"),
    (5, "nasnet_mobile_top50", "NASNetMobile, top layers trained", 0.8779, "test", "000 (top 50)"),
    (6, "mobilenet_cifar10:random", "MobileNet, random init", 0.354, "val", "003, read off curves"),
    (6, "mobilenet_cifar10:imagenet", "MobileNet, ImageNet init", 0.78, "val",
     "003, read off curves"),
    (6, "mobilenet_cifar10:finetune", "MobileNet, fine-tuned", 0.78, "val",
     "003, read off curves"),
]


def transfer_table(number: int) -> list[dict]:
    """Table `number`'s rows as search.json records them (analysis.transfer_tables reads them)."""
    return [{"table": t, "key": key, "model": what, "report": ref, "metric": metric,
             "source": source} for t, key, what, ref, metric, source in TRANSFER_ROWS
            if t == number]


def transfer_reference(key: str, dataset: str, note: str = "") -> dict:
    """A space's `reference`: {dataset: (the report's number, where from)} of one table row."""
    _, _, what, ref, metric, source = next(r for r in TRANSFER_ROWS if r[1] == key)
    return {dataset: (ref, f"report {source}, {what}" + (f" ({metric} accuracy)"
                                                         if metric != "test" else "") + note)}
