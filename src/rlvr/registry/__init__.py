"""The registries that config names resolve through, and what a reward is written with:

- :mod:`.rewards`: reward names -> factories (``register``), task routing, references to user functions;
- :mod:`.tasks`: task labels -> what each task declares (``register_task(Task(...))``) and generators;
- :mod:`.reward_helpers`: column access and per-completion safety for reward functions.

A leaf: nothing here imports a task or a reward, so task modules and plugins register without import circles.
``rlvr.tasks`` imports every built-in task and ``rlvr.rewards`` every built-in reward, so importing either package
makes every built-in name exist.
"""
