"""py_allocator.py: prints which allocator serves this interpreter, then runs a little work.

Prints "allocator: pymt" when pymalloc holds no block (sys.getallocatedblocks() counts only
pymalloc's blocks, so it is 0 when PEP 445 hooks replaced pymalloc) and CPython does not
name its allocator (_PyMem_GetCurrentAllocatorName is NULL for a custom allocator, with or
without CPython's debug hooks on top), otherwise "allocator: <CPython's name>". Used by the
pymt-python tests of PYTHONMALLOC, PYTHONDEVMODE and -X dev.
"""
import sys

try:
    import _testcapi
    name = _testcapi.pymem_getallocatorsname()
except (ImportError, AttributeError):
    name = "unknown"
except RuntimeError:
    name = None  # custom allocator: CPython cannot name it

blocks = sys.getallocatedblocks()
if name is None and blocks == 0:
    print("allocator: pymt")
else:
    print("allocator: %s (pymalloc blocks %d)" % (name, blocks))
print("dev_mode:", sys.flags.dev_mode)
data = {i: [str(i)] * (i % 5) for i in range(20000)}
assert sum(len(v) for v in data.values()) == sum(i % 5 for i in range(20000))
print("work ok")
