"""swaplm.modelstate.snapshot / restore: the model comes back exactly, whatever was done to it in between."""
import torch
import torch.nn as nn

from swaplm.modelstate import restore, snapshot


def tied_model():
    torch.manual_seed(0)
    emb = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = emb.weight  # one tensor in two slots
    return nn.Sequential(emb, nn.BatchNorm1d(3), head)


def state_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}, \
        {id(t) for t in [*model.parameters(), *model.buffers()]}


def test_restore_puts_back_values_objects_dtypes_and_modes():
    model = tied_model()
    model[1].eval()
    values, objects = state_of(model)
    state = snapshot(model)
    with torch.no_grad():
        model[0].weight.add_(1.0)  # through the shared tensor
        model[1].running_mean.fill_(3.0)
        model[1].num_batches_tracked += 5
    model[1].weight = nn.Parameter(torch.zeros(3))  # a new object in a slot
    model.double()  # every floating tensor's data replaced by float64
    model.train()
    restore(model, state)
    assert {id(t) for t in [*model.parameters(), *model.buffers()]} == objects
    assert model[0].weight is model[2].weight
    for k, v in model.state_dict(keep_vars=True).items():
        assert v.dtype == values[k].dtype and torch.equal(v, values[k]), k
    assert model.training and model[0].training and not model[1].training


def test_buffers_only_snapshot_leaves_parameters_alone():
    model = tied_model()
    state = snapshot(model, params=False)
    with torch.no_grad():
        model[1].running_var.mul_(7.0)
        model[0].weight.zero_()
    restore(model, state)
    assert torch.equal(model[1].running_var, torch.ones(3))
    assert not model[0].weight.any()  # parameters were not saved, so they stay as changed


def test_shared_tensor_is_copied_once():
    model = tied_model()
    state = snapshot(model)
    saved = [value for *_, value in state.slots if value is not None]
    tensors = [t for _, _, t, value in state.slots if value is not None]
    assert len({id(t) for t in tensors}) == len(tensors) == len(saved)


import copy  # noqa: E402

import pytest  # noqa: E402

from swaplm.modelstate import hold_norm_stats, release_norm_stats  # noqa: E402


@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (7, 5)), (nn.BatchNorm1d, (7, 5, 3)),
                                       (nn.BatchNorm2d, (6, 5, 4, 3)), (nn.BatchNorm3d, (5, 5, 2, 3, 2))])
@pytest.mark.parametrize("training", [True, False])
def test_held_batchnorm_gives_the_same_output_and_keeps_its_buffers(cls, shape, training):
    torch.manual_seed(1)
    bn = cls(5, momentum=0.3)
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.normal_()
        bn.bias.normal_()
    bn.train(training)
    free = copy.deepcopy(bn)
    x = torch.randn(*shape) * 3 + 1
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    held = hold_norm_stats([bn])
    assert held == [bn]
    out = bn(x)
    release_norm_stats(held)
    assert torch.equal(out, free(x))  # bit for bit the output of the layer that does update its statistics
    assert bn.track_running_stats
    for k, v in bn.state_dict().items():
        assert torch.equal(v, before[k]), k
    if training:  # the free copy did move its statistics: the hold is what kept them
        assert not torch.equal(free.running_mean, before["running_mean"])


def test_hold_skips_subclasses_and_untracked_layers():
    class MyBN(nn.BatchNorm2d):
        pass

    layers = [MyBN(3), nn.BatchNorm2d(3, track_running_stats=False), nn.SyncBatchNorm(3), nn.LayerNorm(3)]
    assert hold_norm_stats(layers) == []
    assert not layers[1].track_running_stats


def test_snapshot_leaves_out_the_buffers_of_held_layers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model.register_buffer("extra", torch.zeros(2))
    held = hold_norm_stats(list(model.modules()))
    state = snapshot(model, params=False, held=held)
    release_norm_stats(held)
    assert [name for _, name, _, _ in state.slots] == ["extra"]


def test_named_modules_walk_matches_torch():
    from transformers import BertConfig, BertModel

    from swaplm.modelstate import named_modules
    from swaplm.spaces import get_space

    shared = nn.Linear(2, 2)
    odd = nn.Sequential(shared, nn.ReLU(), nn.Sequential(shared, nn.Sequential()), nn.ModuleDict({"a": shared}))
    odd.add_module("gone", None)
    darts = get_space("darts")
    models = [odd, tied_model(), darts.build(darts.benchmark()[3].arch),
              BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37))]
    for model in models:
        ours, theirs = named_modules(model), list(model.named_modules())
        assert [n for n, _ in ours] == [n for n, _ in theirs]
        assert all(a is b for (_, a), (_, b) in zip(ours, theirs))
