# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 12 · Continual learning with sparse networks: PackNet and a SpaceNet-style method
#
# **What you will learn:** how to measure learning task after task (the accuracy matrix, average
# accuracy, forgetting, in the task- and the class-incremental scenario), why naive fine-tuning
# forgets, and how the tools of the earlier notebooks — pruning, growth, sparse training — become
# continual-learning methods: PackNet (Mallya & Lazebnik 2018: train, prune, freeze) and a
# SpaceNet-style method (after Sokar, Mocanu & Pechenizkiy 2021: sparse training of each task in the
# free space, then reserve). Article 000's *Better Continual Learning* argues that sparse
# connectivity and sparse representations are what let a network learn without forgetting; section d
# measures what holds of that on Split MNIST-5k.
#
# **Runs in about 10 s (fast mode: 5 s) on a 2-core machine.** The benchmark of section d comes from
# the committed figure data (`python -m minisparse figures continual`).

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one BLAS thread (set before NumPy loads): shared cores

import inspect
import json
import pathlib

import matplotlib.pyplot as plt
import numpy as np

import minisparse
from minisparse import SparseMLP
from minisparse.continual import average_accuracy, forgetting, packnet, spacenet, split_tasks
from minisparse.data.datasets import make_teacher_data, stratified_split
from minisparse.network import topology

FAST = os.environ.get("MINISPARSE_FAST", "0") == "1"
np.set_printoptions(precision=3, suppress=True, linewidth=110)
print(f"FAST = {FAST}   (minisparse {minisparse.__version__}, NumPy {np.__version__})")

# %% [markdown]
# ## a. Tasks, scenarios, and what forgetting means
#
# Split MNIST cuts the ten digits into five tasks, (0, 1), (2, 3), …, (8, 9), learned one after the
# other. In the **task-incremental** scenario the task's identity is given at test time, and the
# network picks between the task's two digits only (the softmax runs over those two output units). In
# the **class-incremental** scenario nothing is given: the network must tell all ten digits apart.
#
# The accuracy matrix R[i, j] is the test accuracy on task j after learning tasks 0…i. The average
# accuracy after task i is the mean of row i over the tasks seen, and forgetting (Chaudhry et al.
# 2018) is how far each earlier task fell from its best, averaged. By hand on a three-task matrix:

# %%
R = np.array([[0.98, np.nan, np.nan],
              [0.70, 0.97, np.nan],
              [0.40, 0.85, 0.99]])
avg_hand = [0.98, (0.70 + 0.97) / 2, (0.40 + 0.85 + 0.99) / 3]
forget_hand = ((0.98 - 0.40) + (0.97 - 0.85)) / 2
print("average accuracy", avg_hand, " forgetting", forget_hand)
assert np.allclose(average_accuracy(R), avg_hand) and np.isclose(forgetting(R), forget_hand)

# %% [markdown]
# ## b. One PackNet step by hand
#
# **Mallya & Lazebnik 2018.** Every stored weight has an owner: free (−1) or the task that kept it.
# Task t trains the free weights (earlier tasks' weights and, after the first task, the biases are
# frozen), then keeps the share 1/(T − t) of the free weights with the largest |w|, sets the others to
# 0 — still stored, free for the tasks to come — retrains what it kept, and owns it from then on. At
# test time in the task-incremental scenario, task j uses only the weights of tasks 0…j.
#
# A 6 → 5 → 4 network on a four-class teacher task cut into two tasks, (0, 1) and (2, 3), T = 2:

# %%
X, y = make_teacher_data(n=600, n_features=6, n_classes=4, n_hidden=8, rng=0)
toy_tasks = split_tasks(stratified_split(X, y, rng=0), groups=((0, 1), (2, 3)))
net = SparseMLP.random([6, 5, 4], density=0.6, rng=0)
owners = packnet.owners_of(net)
rng = np.random.default_rng(0)
packnet.train_task(net, toy_tasks[0], "task", rng, epochs=5, frozen=lambda: [o != packnet.FREE for o in owners])
layer0 = net.layers[0]
print("layer 0 after training task 0 (every weight free):")
print(topology.show(layer0.W, digits=3))
share = packnet.keep_share(0, 2)
w = np.abs(layer0.W.data)
n_keep = int(round(share * w.size))
keep_hand = np.zeros(w.size, dtype=bool)
keep_hand[np.argsort(-w, kind="stable")[:n_keep]] = True           # the n_keep largest |w|
print(f"keep share 1/(T − t) = {share}: the {n_keep} of {w.size} largest |w|")

kept = packnet.prune_free(net, owners, share)
assert np.array_equal(kept[0], keep_hand)
assert np.all(layer0.W.data[~keep_hand] == 0)
for o, k in zip(owners, kept):
    o[k] = 0
print("after pruning (a pruned weight is a stored 0.000, free for task 1):")
print(topology.show(layer0.W, digits=3))
print("owners:", owners[0])
print(inspect.getsource(packnet.prune_free))

# %% [markdown]
# Task 1 now trains only the free (zeroed) weights. Task 0's weights do not move, bit for bit, and
# task 0's test accuracy, computed with task 0's weights only, is exactly what it was:

# %%
acc0 = [None, None]
with packnet.task_weights(net, owners, 0):
    acc0[0] = packnet.accuracy_row(net, toy_tasks, 0, "task")[0]
w_task0 = [layer.W.data[o == 0].copy() for layer, o in zip(net.layers, owners)]
packnet.packnet_task(net, owners, toy_tasks[1], 2, "task", rng, retrain_epochs=1, epochs=5)
assert all(np.array_equal(layer.W.data[o == 0], w0) for layer, o, w0 in zip(net.layers, owners, w_task0))
with packnet.task_weights(net, owners, 0):
    acc0[1] = packnet.accuracy_row(net, toy_tasks, 0, "task")[0]
print(f"task 0 accuracy before and after task 1: {acc0[0]:.4f}, {acc0[1]:.4f}; owners of layer 0: {owners[0]}")
assert acc0[0] == acc0[1]

# %% [markdown]
# ## c. One SpaceNet-style step by hand
#
# The network starts empty. Each task claims n/T units of every hidden layer; its connections may
# only run into its own units, from units of the layer below that belong to it or to earlier tasks
# (any input for the first layer; its own class units in the output layer). It grows a share of those
# positions at random, trains them with SET's rewiring (drop the smallest |w|, regrow at random inside
# its block), keeps the strongest half, retrains them briefly and reserves them for good. As nothing
# ever connects into an earlier task's units later, what an earlier task computes cannot change.
#
# A 6 → 4 → 4 → 4 network, two tasks: task 0 claims two units per hidden layer.

# %%
net2 = SparseMLP.random([6, 4, 4, 4], density=0.5, rng=1)
space = spacenet.empty_space(net2)
rng2 = np.random.default_rng(1)
spacenet.claim_units(space, 0, 2, rng2)
print("unit owners per hidden layer:", space.unit_owner)
blocks = [spacenet.block(space, net2, l, toy_tasks[0]) for l in range(3)]
units1 = np.flatnonzero(space.unit_owner[0] == 0)
hand = np.sort((np.arange(6)[:, None] * 4 + units1[None, :]).ravel())          # every input → task 0's units
assert np.array_equal(blocks[0], hand)
units2 = np.flatnonzero(space.unit_owner[1] == 0)
assert np.array_equal(blocks[1], np.sort((units1[:, None] * 4 + units2[None, :]).ravel()))
assert np.array_equal(blocks[2], np.sort((units2[:, None] * 4 + np.array([0, 1])[None, :]).ravel()))
for l, b in enumerate(blocks):
    print(f"layer {l}: task 0 may use {b.size} positions (i, j): {topology.pairs(b, 4).tolist()[:6]}…")
print(inspect.getsource(spacenet.block))

# %% [markdown]
# Both tasks on a slightly larger 6 → 8 → 8 → 4 network (four units per task and hidden layer; on a
# network this small every position of a block is grown, else a task's few paths may not connect its
# inputs to its outputs at all), with the library: task 0's accuracy does not change when task 1 is learned,
# and at the end every connection left is a reserved one.

# %%
net3 = SparseMLP.random([6, 8, 8, 4], density=0.5, rng=1)
R2, space2 = spacenet.run_spacenet(net3, toy_tasks, "task", rng=1, epochs=20, retrain_epochs=2, block_density=1.0,
                                   lr=0.05)
print("R =", R2, sep="\n")
for l in range(3):
    print(f"layer {l}: reserved {space2.reserved[l].size} connections, unit owners {space2.unit_owner[l] if l < 2 else '—'}")
assert np.all(R2[1:, 0] == R2[0, 0])                     # task 0 answers exactly as before
assert net3.nnz == sum(r.size for r in space2.reserved)

# %% [markdown]
# ## d. The benchmark
#
# Split MNIST-5k, 784-300-300-10, 10 epochs per task for every method (PackNet and SpaceNet spend 2
# of them retraining), three seeds. Sparse means 10 % static uniform weights; k-WTA keeps 10 % of each
# hidden layer (notebook 11). Final average accuracy and forgetting, % (± 95 % t-interval):

# %%
data = json.loads((pathlib.Path("..") / "figures" / "continual_split_mnist.json").read_text())
for scenario, title in (("task", "task-incremental"), ("class", "class-incremental")):
    print(title)
    for method in data["methods"]:
        r = data["runs"][scenario][method]
        print(f"  {method:38s} average {100 * r['final']:5.1f} ± {100 * (r['final_ci'] or 0):4.1f}   "
              f"forgetting {100 * r['forgetting']:5.1f} ± {100 * (r['forgetting_ci'] or 0):4.1f}   "
              f"weights {int(np.mean(r['nnz'])):,}")

fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
for a, scenario in zip(ax, ("task", "class")):
    for k, method in enumerate(data["methods"]):
        avg = np.array(data["runs"][scenario][method]["average"]) * 100
        a.plot(range(1, len(avg) + 1), avg, marker="o", ms=3, ls="--" if "k-WTA" in method else "-", label=method)
    a.set(title=f"{scenario}-incremental", xlabel="tasks learned", ylabel="average accuracy (%)")
ax[0].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## e. Where to break in
#
# | to see | break in |
# | --- | --- |
# | the tasks and the two scenarios' heads | `minisparse.continual.tasks.split_tasks`, `minisparse.continual.tasks.accuracy` |
# | average accuracy and forgetting | `minisparse.continual.tasks.average_accuracy`, `minisparse.continual.tasks.forgetting` |
# | one task's training with frozen weights | `minisparse.continual.finetune.train_task` |
# | PackNet's pruning of the free weights | `minisparse.continual.packnet.prune_free` |
# | PackNet's task masks at test time | `minisparse.continual.packnet.task_weights` |
# | one PackNet task | `minisparse.continual.packnet.packnet_task` |
# | a task's units and its block of positions | `minisparse.continual.spacenet.claim_units`, `minisparse.continual.spacenet.block` |
# | one SpaceNet-style task | `minisparse.continual.spacenet.spacenet_task` |
#
# ## Summary
#
# - The accuracy matrix R[i, j] says everything; average accuracy and forgetting summarise it.
# - Naive fine-tuning overwrites shared weights: it forgets, badly so in the class-incremental
#   scenario.
# - PackNet (prune, freeze, pass the freed weights on) and the SpaceNet-style method (own units,
#   sparse training in the free space, reserve) forget nothing in the task-incremental scenario by
#   construction, with ReLU; the class-incremental scenario needs more than frozen weights (section d).
#
# ## Exercises
#
# Each answer cell holds a placeholder; replace `None` with your answer and run the check below it.
#
# **1.** With five tasks, what share of the free weights does PackNet keep for task 2?

# %%
answer_1 = None                      # a number


def check_exercise_1(answer):
    if answer is None:
        print("hint: 1/(T − t)")
        return
    assert abs(answer - packnet.keep_share(2, 5)) < 1e-9, f"not quite: {answer}"
    print("correct")


check_exercise_1(answer_1)

# %% [markdown]
# **2.** What is the forgetting of R = [[1.0, ·], [0.6, 0.9]]?

# %%
answer_2 = None                      # a number


def check_exercise_2(answer):
    if answer is None:
        print("hint: one earlier task: its best minus its last")
        return
    assert abs(answer - forgetting(np.array([[1.0, np.nan], [0.6, 0.9]]))) < 1e-9, f"not quite: {answer}"
    print("correct")


check_exercise_2(answer_2)

# %% [markdown]
# **3.** In the 784-300-300-10 network with five tasks, how many positions may the SpaceNet-style
# task 0 use in the first layer (every input into its own units)?

# %%
answer_3 = None                      # an integer


def check_exercise_3(answer):
    if answer is None:
        print("hint: 784 inputs × (300 / 5) units")
        return
    assert answer == 784 * 60, f"not quite: {answer}"
    print("correct")


check_exercise_3(answer_3)
