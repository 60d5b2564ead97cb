import numpy as np

from rnn_recipes.data.splits import stratified_split


def test_parts_are_disjoint_complete_and_stratified():
    labels = ["a"] * 80 + ["b"] * 20
    train, val, test = stratified_split(labels, [0.1, 0.2], seed=3)
    allidx = np.concatenate([train, val, test])
    assert sorted(allidx.tolist()) == list(range(100))
    assert len(val) == 10 and len(test) == 20
    labels = np.array(labels)
    assert (labels[test] == "b").sum() == 4  # 20% of each class
    assert (labels[val] == "b").sum() == 2


def test_seed_decides_the_split():
    labels = [i % 3 for i in range(60)]
    a = stratified_split(labels, [0.2], seed=1)
    b = stratified_split(labels, [0.2], seed=1)
    c = stratified_split(labels, [0.2], seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])
