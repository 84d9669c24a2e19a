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
