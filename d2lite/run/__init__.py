"""What running for real adds around the lesson's loop: the machinery.

Nothing at the top level of d2lite imports from here; these modules import the lesson's.

- progress.py: :class:`Progress`, the progress line with the time left;
- checkpoints.py: :func:`save_checkpoint`, :func:`load_checkpoint`, their errors, the lock;
- resume.py: one run's checkpoint and mid-epoch positions, to go on exactly;
- signals.py: Ctrl-C and SIGTERM end a run cleanly, saying how to resume;
- trainer.py: :func:`train`, the lesson's :func:`train_epoch` with all of the above attached;
- budget.py: :func:`plan_budget`, a run sized to a time budget;
- cli.py: ``python -m d2lite train`` (:func:`main`), and argparse types for scripts.
"""
