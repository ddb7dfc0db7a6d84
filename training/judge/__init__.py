"""An independent judge of motion quality (issue #12): a content classifier trained on the
prepared Bandai train split, physical metrics and locomotion checks, reported per class.

Modules: :mod:`.labels` (class of a take), :mod:`.joint_features` (classifier input),
:mod:`.classifier` (the network, save/load), :mod:`.train_classifier` (CLI),
:mod:`.physics` (jerk, skating, floor, bone lengths, per-class ratios against real clips),
:mod:`.frechet` (FID on the classifier's embedding), :mod:`.locomotion` (where a motion goes),
:mod:`.prompts` (the free-wording prompt set, ``prompts.json``).
"""
