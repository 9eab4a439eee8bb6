"""The PyTorch modules equivalent to ddp's model presets (Sources/Layers/ModelSpec.swift).

Each builds the same layers in the same order, so `state_dict()` names and shapes equal those of
ddp's `Model.stateDict()` and a ddp checkpoint loads with `load_state_dict(..., strict=True)`.

    /usr/bin/python3 torch_models.py NAME C H W [CLASSES]   prints the state dict as JSON lines
    /usr/bin/python3 torch_models.py --state-dicts > state_dicts.jsonl
        every preset on 1x28x28 and 3x32x32 with 10 classes: the fixture ModelTests compares with
"""
import json
import sys

import torch.nn as nn
import torch.nn.functional as F


def mlp(c, h, w, classes=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, classes))


def lenet5(c, h, w, classes=10):
    # c6k5p2-relu-mp2-c16k5p0-relu-mp2-flatten-fc120-relu-fc84-relu-fc
    fh, fw = (h // 2 - 4) // 2, (w // 2 - 4) // 2
    return nn.Sequential(nn.Conv2d(c, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16 * fh * fw, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, classes))


def fmnist_cnn(c, h, w, classes=10, p1=0.25, p2=0.5):
    """DESIGN.md's reference net (peers/torch_ref.py), for any input size."""
    def cbr(i, o):
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
    return nn.Sequential(*cbr(c, 32), *cbr(32, 32), nn.MaxPool2d(2),
                         *cbr(32, 64), *cbr(64, 64), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(p1), nn.Linear(64 * (h // 4) * (w // 4), 128), nn.ReLU(),
                         nn.Dropout(p2), nn.Linear(128, classes))


class BasicBlock(nn.Module):
    """He et al.'s basic block; option-B projection shortcut when the shape changes."""

    def __init__(self, i, o, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.shortcut = nn.Sequential()
        if stride != 1 or i != o:
            self.shortcut = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """CIFAR ResNet-20: conv3x3(16)-BN-ReLU, 3 stages x 3 blocks (16, 32, 64), GAP, FC."""

    def __init__(self, c, h, w, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 16), BasicBlock(16, 16))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2), BasicBlock(32, 32), BasicBlock(32, 32))
        self.layer3 = nn.Sequential(BasicBlock(32, 64, 2), BasicBlock(64, 64), BasicBlock(64, 64))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


def resnet20(c, h, w, classes=10):
    return ResNet20(c, h, w, classes)


PRESETS = {"mlp": mlp, "lenet5": lenet5, "fmnist-cnn": fmnist_cnn, "resnet20": resnet20}

def state_dict_lines(name, c, h, w, classes=10):
    model = PRESETS[name](c, h, w, classes)
    for key, value in model.state_dict().items():
        yield {"model": name, "input": [c, h, w], "name": key, "shape": list(value.shape),
               "dtype": str(value.dtype).replace("torch.", "")}
    yield {"model": name, "input": [c, h, w], "parameters": sum(p.numel() for p in model.parameters())}


if __name__ == "__main__" and sys.argv[1] == "--state-dicts":
    for preset in PRESETS:
        for shape in [(1, 28, 28), (3, 32, 32)]:
            for line in state_dict_lines(preset, *shape):
                print(json.dumps(line))
elif __name__ == "__main__":
    name, c, h, w = sys.argv[1], *map(int, sys.argv[2:5])
    for line in state_dict_lines(name, c, h, w, int(sys.argv[5]) if len(sys.argv) > 5 else 10):
        print(json.dumps(line))
