"""Code identity: the custody contract's code hash and the enclave's measurement are hashes of the
code that actually runs.

On Secret Network a contract's code hash is the sha256 of its wasm binary (what x/compute stores
and every client puts in front of its messages), and an enclave's identity is its MRENCLAVE, the
hash SGX measures over the enclave's code pages as they are loaded.  Here the "binary" of each is
the source of the Python modules that implement it:

* :data:`CONTRACT_MODULES` — the custody contract (:func:`contract_code` is what the chain stores;
  its sha256 is the code hash);
* :data:`ENCLAVE_MODULES` — the enclave (:func:`enclave_measurement` is the MRENCLAVE stand-in).

A hash over source files alone would miss a process whose functions were replaced after import
(monkeypatching), so :func:`measure` also checks that every function and method the sources define
is, in the running process, the code compiled from those sources; a replaced one is folded into the
hash, which then differs.  Python is one address space: this catches a modified or patched module,
not an attacker who rewrites the checker itself (that is what real SGX measurement is for).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.util
import inspect
import marshal
import os
import sys
import sysconfig
import types
from collections.abc import Sequence
from types import CodeType, FunctionType, ModuleType
from typing import Any, Final

from gridlock.crypto import codec

__all__ = [
    "CONTRACT_MODULES",
    "ENCLAVE_MODULES",
    "contract_code",
    "enclave_measurement",
    "measure",
    "running_contract_hash",
]

CONTRACT_MODULES: Final = (
    "gridlock.enclave.cosmwasm",
    "gridlock.enclave.custody_state",
    "gridlock.enclave.custody_ledger",
    "gridlock.enclave.contract_msg",
    "gridlock.enclave.contract",
    "gridlock.enclave.contract_frost",
    "gridlock.enclave.contract_owner",
    "gridlock.enclave.contract_keychange",
    "gridlock.guardian.store.rules",
    "gridlock.protocol.custody",
    "gridlock.crypto.x25519_seal",
    "gridlock.wire.approval",
    "gridlock.wire.identity",
    "gridlock.wire.ops.vault",
)
"""The modules whose code is the custody contract (it decides with the guardian store's rules,
checks owner approvals and decodes the approved requests as the guardians do, and seals to the
keys of their identities)."""

ENCLAVE_MODULES: Final = (
    "gridlock.enclave.crypto",
    "gridlock.enclave.attestation",
    "gridlock.enclave.enclave",
    "gridlock.enclave.measure",
)
"""The modules whose code is the enclave: sealing, seeds, the protocol's cryptography, this check."""

_LABEL: Final = "gridlock/enclave/code/v1"
_STDLIB: Final = sysconfig.get_paths()["stdlib"] + os.sep
_BUILTIN: Final = (
    types.BuiltinFunctionType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.MethodWrapperType,
    types.ClassMethodDescriptorType,
)
"""What the interpreter itself puts in a class (an Enum's ``__format__``, ``_new_member_``)."""


@functools.cache
def _source(name: str) -> bytes:
    """The source bytes of module ``name`` as this process first read them (cached: the code that
    runs is what was imported, whatever happens to the file afterwards)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ImportError(f"no source for module {name}")
    with open(spec.origin, "rb") as f:
        return f.read()


def bundle(modules: Sequence[str]) -> bytes:
    """The canonical encoding of the modules' sources: ``[label, [[name, source], ...]]``."""
    return codec.dumps([_LABEL, [[name, _source(name)] for name in modules]])


def contract_code() -> bytes:
    """The custody contract's code as the chain stores it (its sha256 is the code hash)."""
    return bundle(CONTRACT_MODULES)


@functools.cache
def _compiled(name: str) -> tuple[frozenset[CodeType], ast.Module]:
    source = _source(name)
    spec = importlib.util.find_spec(name)
    filename = spec.origin if spec is not None and spec.origin is not None else name
    top = compile(source, filename, "exec", dont_inherit=True)
    codes: set[CodeType] = set()
    stack = [top]
    while stack:
        code = stack.pop()
        codes.add(code)
        stack.extend(c for c in code.co_consts if isinstance(c, CodeType))
    return frozenset(codes), ast.parse(source)


def _functions(obj: object) -> list[FunctionType]:
    """The plain functions behind a module or class attribute (functions, methods, static and class
    methods, properties, decorated functions); empty if it is not plain code (say, a mock)."""
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    if isinstance(obj, property):
        return [f for part in (obj.fget, obj.fset, obj.fdel) if part is not None for f in _functions(part)]
    try:
        obj = inspect.unwrap(obj) if callable(obj) else obj
    except ValueError:  # a wrapper chain that never ends (a mock pretends to wrap)
        return []
    return [obj] if isinstance(obj, FunctionType) else []


def _generated(fn: FunctionType, module: str) -> bool:
    """A method the standard library added to a class of ``module`` (dataclass's ``__init__``,
    compiled from a string in the module's namespace; a Protocol's ``__subclasshook__``), not one
    the module defines or anyone patched in."""
    filename = fn.__code__.co_filename
    return (filename == "<string>" and fn.__module__ == module) or filename.startswith(_STDLIB)


def _replaced(name: str) -> list[bytes]:
    """The running code of module ``name`` that its source did not compile to (empty: none): a
    function or method its source defines that is now other code or not code at all, or a method
    patched into one of its classes."""
    module: ModuleType = sys.modules.get(name) or importlib.import_module(name)
    codes, tree = _compiled(name)
    found: list[bytes] = []

    def check(where: str, obj: object) -> None:
        fns = _functions(obj)
        if not fns:
            found.append(where.encode() + b"\0not code: " + type(obj).__qualname__.encode())
        for fn in fns:
            if fn.__code__ not in codes:
                found.append(where.encode() + b"\0" + marshal.dumps(fn.__code__))

    namespace = vars(module)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            check(node.name, namespace.get(node.name))
        elif isinstance(node, ast.ClassDef) and isinstance(namespace.get(node.name), type):
            cls = namespace[node.name]
            defined = {n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
            for attr in defined:
                check(f"{node.name}.{attr}", vars(cls).get(attr))
            for attr, value in vars(cls).items():
                if attr in defined or isinstance(value, type):
                    continue
                fns = _functions(value)
                if not fns and callable(value) and not isinstance(value, _BUILTIN):
                    check(f"{node.name}.{attr}", value)  # a callable that is not code: patched in
                for fn in fns:
                    if not _generated(fn, name):
                        check(f"{node.name}.{attr}", fn)
    return found


_Snapshot = tuple[
    list[tuple[Any, str, object]], list[tuple[Any, int, dict[str, object]]], list[tuple[FunctionType, CodeType]]
]
_CLEAN: dict[str, _Snapshot] = {}
"""Per module, what :func:`_replaced` last found clean: the module's and its classes' bindings and
every function's code object, by identity — so the next measurement needs only identity checks
unless something was rebound or a function's ``__code__`` swapped since."""


def _snapshot(name: str) -> _Snapshot:
    namespace = vars(sys.modules[name])
    _, tree = _compiled(name)
    bindings: list[tuple[Any, str, object]] = []
    classes: list[tuple[Any, int, dict[str, object]]] = []
    functions: list[object] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            bindings.append((namespace, node.name, namespace.get(node.name)))
            functions.append(namespace.get(node.name))
        elif isinstance(node, ast.ClassDef) and isinstance(namespace.get(node.name), type):
            bindings.append((namespace, node.name, namespace[node.name]))
            attrs = vars(namespace[node.name])
            classes.append((attrs, len(attrs), dict(attrs)))
            functions.extend(attrs.values())
    codes = [(fn, fn.__code__) for obj in functions for fn in _functions(obj)]
    return bindings, classes, codes


def _unchanged(name: str) -> bool:
    """Whether module ``name`` is bound exactly as when :func:`_replaced` last found it clean."""
    snap = _CLEAN.get(name)
    if snap is None:
        return False
    bindings, classes, codes = snap
    return (
        all(where.get(key) is obj for where, key, obj in bindings)
        and all(len(attrs) == n and all(attrs.get(k) is v for k, v in kept.items()) for attrs, n, kept in classes)
        and all(fn.__code__ is code for fn, code in codes)
    )


@functools.cache
def _sources_digest(modules: tuple[str, ...]) -> bytes:
    return hashlib.sha256(bundle(modules)).digest()  # the sources are read once (_source)


def measure(modules: Sequence[str]) -> bytes:
    """sha256 of the modules' sources — extended by any function the running process replaced, so
    patched code never has the hash of the code it pretends to be.  A module found clean before and
    bound the same way since (:func:`_unchanged`) is not walked again."""
    replaced = []
    for name in modules:
        if _unchanged(name):
            continue
        found = _replaced(name)
        if found:
            _CLEAN.pop(name, None)
            replaced.extend(found)
        else:
            _CLEAN[name] = _snapshot(name)
    if replaced:
        patched = hashlib.sha256(bundle(modules))
        patched.update(codec.dumps(["replaced", replaced]))
        return patched.digest()
    return _sources_digest(tuple(modules))


def running_contract_hash() -> str:
    """The hex code hash of the custody contract code this process runs."""
    return measure(CONTRACT_MODULES).hex()


def enclave_measurement() -> bytes:
    """The measurement (MRENCLAVE stand-in) of the enclave code this process runs."""
    return measure(ENCLAVE_MODULES)
