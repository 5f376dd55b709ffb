"""Summarise py-spy collapsed stacks: ``python -m bench.hotspots FILE [N]``.

Prints the functions with the most samples on the stack (inclusive) and at
the top of it (self), as shares of all samples of the busiest thread set.
"""

import sys
from collections import Counter


def main(path, top=30):
    inclusive, own, total = Counter(), Counter(), 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = stack.split(";")
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    print(f"{total} samples")
    print("inclusive:")
    for frame, n in inclusive.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {frame}")
    print("self:")
    for frame, n in own.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30)
