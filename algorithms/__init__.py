"""NumPy implementations of the ML algorithms from the seed articles (no I/O, no asyncio).

Grouped by family; every public name is re-exported here. See ``algorithms/README.md``.
"""

from algorithms import attention, diffusion, matrices, probability, recurrences, scaling, tokenization
from algorithms.attention import *  # noqa: F403
from algorithms.diffusion import *  # noqa: F403
from algorithms.matrices import *  # noqa: F403
from algorithms.probability import *  # noqa: F403
from algorithms.recurrences import *  # noqa: F403
from algorithms.scaling import *  # noqa: F403
from algorithms.tokenization import *  # noqa: F403

__all__ = [
    *attention.__all__,
    *diffusion.__all__,
    *matrices.__all__,
    *probability.__all__,
    *recurrences.__all__,
    *scaling.__all__,
    *tokenization.__all__,
]
