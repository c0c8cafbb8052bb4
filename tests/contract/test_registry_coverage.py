"""The contract suite covers every registered method: its configs come from the registry (tests/contract/configs.py)
and each contract module names the method groups it runs."""

from __future__ import annotations

import contract.test_bottleneck_contract as bottleneck
import contract.test_lora_contract as lora
import contract.test_prefix_prompt_reft_contract as prefix_prompt_reft
from contract.configs import configs_for, load, registered_groups


def test_every_registered_method_is_in_the_contract_suite():
    covered = {*bottleneck.GROUPS, *lora.GROUPS, *prefix_prompt_reft.GROUPS}
    assert registered_groups() <= covered, sorted(registered_groups() - covered)


def test_every_group_has_configs_that_load():
    for group in registered_groups():
        specs = configs_for(group)
        assert specs, group
        assert all(load(spec) is not None for spec in specs)
