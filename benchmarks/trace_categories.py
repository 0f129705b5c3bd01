"""Categories of a TensorFlow profiler trace (`.xplane.pb`) of training steps, for `profile_step.py`.

What works with TF 2.21 on CPU: `tf.profiler.experimental.start/stop` writes one `.xplane.pb`
(`tensorflow.tsl.profiler.protobuf.xplane_pb2`). Its `/host:CPU` plane has a line per thread:
TF ops as `name:Type` events, XLA thunks as events with `hlo_op` and `hlo_module` stats, and
the `/host:metadata` plane holds each XLA module's HLO proto
(`tensorflow.compiler.xla.service.hlo_pb2`), which maps a thunk to its HLO instructions and their
TF op names (XLA's own per-op information; no `--xla_dump_to` is needed).

Every thread's events nest by time; each event's self time (its duration minus its children's)
goes to one category:

* TF ops by type and name scope: products (`MatMul`, `Conv2D*`, `Conv2DBackprop*`, oneDNN's
  `_Mkl*` fusions) under `gradient_tape/` are backward, the others forward (Conv2DTranspose's
  forward pass is a `Conv2DBackpropInput` outside the tape); `adam/` is the optimizer;
  `*Random*` is random number generation; iterator ops and the work of the tf.data threads are
  the input pipeline; checks, control flow, copies and variable reads are "other"; the
  remaining math is elementwise.
* XLA thunks: a dot/convolution (or a fusion containing one) is a product, backward when its TF
  op name is under `gradient_tape/` (or, when XLA's rewrites dropped the name, when what feeds it
  is); a fusion of `adam/` ops is the optimizer; rng ops are random; fusions with a transpose
  (XLA's layout changes for its convolutions), copies, slices and tuples are "other"; other
  fusions are elementwise.
* Thread-pool tasks (`ThreadpoolListener` Record -> StartRegion/StopRegion, linked by flow ids)
  belong to the event that enqueued them. Their time counts where it is not inside any event:
  after the enqueuing event has ended (XLA's convolutions and oneDNN's kernels run
  asynchronously, so their events end at the launch) and on no other event of the pool thread.
* Runtime bookkeeping (executor, thunk executor, eager dispatch, and the Python thread's time
  between TF calls) is host/dispatch, except gaps over 50 us between its children; waits (the
  Python thread blocked in a function call or on an XLA result, tf.data's iterators blocked on
  their buffers) count nowhere.
"""

import bisect
import collections

CATEGORIES = ("fwd", "bwd", "elementwise", "rng", "optimizer", "input", "host", "other")
PRODUCT_TYPES = ("MatMul", "Conv2D", "Conv3D", "Einsum", "DepthwiseConv")
INPUT_TYPES = (
    "IteratorGetNext",
    "IteratorGetNextAsOptional",
    "OptionalGetValue",
    "OptionalHasValue",
    "OptionalFromValue",
    "MakeIterator",
    "IteratorV2",
    "AnonymousIteratorV3",
)
OTHER_TYPES = (
    "CheckNumerics",
    "Assert",
    "Enter",
    "Exit",
    "Merge",
    "Switch",
    "NextIteration",
    "LoopCond",
    "Identity",
    "IdentityN",
    "Const",
    "Reshape",
    "Shape",
    "StridedSlice",
    "Pack",
    "Unpack",
    "_Send",
    "_Recv",
    "ReadVariableOp",
    "Transpose",
    "_MklToTf",
    "Squeeze",
    "ExpandDims",
    "ConcatV2",
    "Slice",
    "Fill",
    "Range",
    "NoOp",
    "StatelessIf",
    "StatelessWhile",
    "If",
    "While",
    "PartitionedCall",
    "StatefulPartitionedCall",
    "AssignAddVariableOp",
    "AssignVariableOp",
    "Less",
    "Min",
    "Max",
    "LogicalAnd",
    "All",
    "Any",
    "IsFinite",
    "GreaterEqual",
    "LessEqual",
)
OTHER_HLO = {
    "copy",
    "transpose",
    "bitcast",
    "slice",
    "dynamic-slice",
    "dynamic-update-slice",
    "concatenate",
    "tuple",
    "get-tuple-element",
    "parameter",
    "constant",
    "reshape",
    "copy-start",
    "copy-done",
    "pad",
    "gather",
    "scatter",
    "iota",
    "compare",
    "and",
    "or",
    "not",
    "reduce-precision",
}
CONTROL_HLO = {"while", "conditional", "call"}
RNG_HLO = {"rng", "rng-bit-generator", "rng-get-and-update-state"}
#: Events whose self time is waiting for other threads.
WAITS = ("BlockUntilReady", "SlinkyThreadPool::Await", "Await", "TFE_DeleteTensorHandle")
#: A gap this long between a runtime event's children is the thread waiting (on another thread, or
#: descheduled: on 2 cores the step's threads and tf.data's take turns), not bookkeeping.
LONG_GAP_PS = 50_000_000
#: Helper events whose self time belongs to the op around them.
HELPERS = ("ParallelFor", "ThreadpoolListener", "MemoryAllocation", "MemoryDeallocation", "end: ")


def _stat_value(plane, stat):
    kind = stat.WhichOneof("value")
    return plane.stat_metadata[stat.ref_value].name if kind == "ref_value" else getattr(stat, kind)


def hlo_categories(xspace):
    """`{(module name, instruction name): (category, label)}` from the HLO protos in `/host:metadata`."""
    from tensorflow.compiler.xla.service import hlo_pb2

    table = {}
    for plane in xspace.planes:
        if plane.name != "/host:metadata":
            continue
        for event in plane.event_metadata.values():
            for stat in event.stats:
                if plane.stat_metadata[stat.metadata_id].name != "Hlo Proto":
                    continue
                proto = hlo_pb2.HloProto()
                proto.ParseFromString(stat.bytes_value)
                module = proto.hlo_module
                computations = {c.id: c for c in module.computations}

                def contents(instruction, seen, computations=computations):
                    yield instruction
                    if instruction.opcode in CONTROL_HLO:
                        return  # a loop or call: its body's instructions have their own events
                    for cid in instruction.called_computation_ids:
                        if cid not in seen:
                            seen.add(cid)
                            for inner in computations[cid].instructions:
                                yield from contents(inner, seen)

                for computation in module.computations:
                    by_id = {i.id: i for i in computation.instructions}

                    def upstream(instruction, depth=6, by_id=by_id):
                        """TF op names of the instructions feeding `instruction` (through unnamed ones)."""
                        for operand in (by_id.get(i) for i in instruction.operand_ids):
                            if operand is None:
                                continue
                            named = [
                                i.metadata.op_name for i in contents(operand, set()) if i.metadata.op_name
                            ]
                            yield from named
                            if not named and depth:
                                yield from upstream(operand, depth - 1)

                    for instruction in computation.instructions:
                        table[(module.name, instruction.name)] = _classify_hlo(
                            list(contents(instruction, set())), lambda i=instruction: list(upstream(i))
                        )
    return table


def _classify_hlo(instructions, upstream):
    head = instructions[0]
    if head.opcode in CONTROL_HLO:
        return "host", "xla " + head.opcode
    names = [i.metadata.op_name for i in instructions if i.metadata.op_name]
    label = (
        f"xla {head.opcode} {head.name.split('.')[0]}: "
        + (head.metadata.op_name or (names[0] if names else ""))[-80:]
    )
    products = [
        i
        for i in instructions
        if i.opcode in ("dot", "convolution")
        or (i.opcode == "custom-call" and any(s in i.custom_call_target.lower() for s in ("matmul", "conv")))
    ]
    if products:
        # XLA's rewrites (e.g. a kernel gradient as a window-dilated convolution) can drop the TF op
        # name: such a product is backward when what feeds it comes from the gradient tape.
        own = [i.metadata.op_name for i in products if i.metadata.op_name]
        backward = any("gradient_tape/" in n for n in (own or upstream()))
        return ("bwd" if backward else "fwd"), label
    if "transpose" in {i.opcode for i in instructions}:
        return "other", label  # a layout change (XLA transposes operands for its convolutions)
    if any("adam/" in n.lower() for n in names):
        return "optimizer", label
    opcodes = {i.opcode for i in instructions}
    if opcodes & RNG_HLO or any("Random" in i.metadata.op_type for i in instructions):
        return "rng", label
    if any(i.metadata.op_type in ("CheckNumerics", "Assert") for i in instructions) or opcodes <= OTHER_HLO:
        return "other", label
    return "elementwise", label


def _classify_tf_op(name, on_data_thread):
    scope, _, op_type = name.rpartition(":")
    if on_data_thread or op_type in INPUT_TYPES or "IteratorGetNext" in scope:
        return "input"
    if op_type.startswith("__inference") or op_type in ("_XlaCompile", "_XlaRun", "XlaLaunch"):
        return "host"  # a function call (the XLA launch); its thunks have their own events
    if any(p in op_type for p in PRODUCT_TYPES):
        return "bwd" if "gradient_tape/" in scope else "fwd"
    if "adam/" in scope.lower() or op_type.startswith("ResourceApply"):
        return "optimizer"
    if "Random" in op_type:
        return "rng"
    if op_type in OTHER_TYPES or op_type.startswith("TensorList") or op_type.startswith("TensorArray"):
        return "other"
    return "elementwise"


class Frame:
    """An open event on one thread's stack: its category and the gaps between its children (its self time)."""

    def __init__(self, event, parent):
        self.end = event.offset_ps + event.duration_ps
        self.cursor = event.offset_ps
        self.gaps = []
        self.wait = self.runtime = self.helper = False


def analyze(path):
    """(`{category: picoseconds}`, `Counter{(op label, category): picoseconds}`) of one `.xplane.pb`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    xspace = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        xspace.ParseFromString(f.read())
    hlo = hlo_categories(xspace)
    totals = dict.fromkeys(CATEGORIES + ("wait",), 0)
    ops = collections.Counter()

    def add(category, label, ps):
        totals[category] += ps
        if category != "wait":
            ops[(label, category)] += ps

    # Thread-pool tasks: `ThreadpoolListener::Record` (enqueued, flow id `_p`) inside the event that
    # enqueued it, `StartRegion` (flow id `_c`) ... `StopRegion` where a pool thread ran it. XLA's
    # convolutions run this way, asynchronously: their thunk's event ends at the launch.
    owners, regions = (
        {},
        [],
    )  # flow id -> (category, label, end of the owner's event, or flow id of a parent task)
    for plane in xspace.planes:
        if plane.name != "/host:CPU":
            continue
        ids = {m.name: k for k, m in plane.stat_metadata.items()}
        hlo_op, hlo_module, producer, consumer = (ids.get(n) for n in ("hlo_op", "hlo_module", "_p", "_c"))
        for line in plane.lines:
            base = line.timestamp_ns * 1000
            data_thread = line.name.startswith("tf_data")
            events = sorted(line.events, key=lambda e: (e.offset_ps, -e.duration_ps))
            if line.name == "python" and events:  # the Python thread's time between TF calls: Keras's loop
                covered, end = 0, events[0].offset_ps
                for e in events:
                    covered += max(0, e.offset_ps + e.duration_ps - max(end, e.offset_ps))
                    end = max(end, e.offset_ps + e.duration_ps)
                totals["host"] += end - events[0].offset_ps - covered
            stack, tops, region = [], [], None

            def close(frame):
                gaps = frame.gaps + [max(0, frame.end - frame.cursor)]
                if frame.wait:
                    return add("wait", None, sum(gaps))
                if frame.runtime:  # bookkeeping (not an op or a thunk): long gaps are the thread waiting
                    add("wait", None, sum(g for g in gaps if g > LONG_GAP_PS))
                    gaps = [g for g in gaps if g <= LONG_GAP_PS]
                add(frame.category, frame.label, sum(gaps))

            for e in events:
                while stack and stack[-1].end <= e.offset_ps:
                    close(stack.pop())
                name = plane.event_metadata[e.metadata_id].name
                stats = {s.metadata_id: s for s in e.stats}
                if name.startswith("ThreadpoolListener::"):
                    if name.endswith("Record") and producer in stats:
                        top = next((f for f in reversed(stack) if not f.helper), None)
                        owner = (top.category, top.label, base + top.end) if top else region and region[1]
                        owners[stats[producer].int64_value] = owner
                    elif name.endswith("StartRegion") and consumer in stats:
                        region = [base + e.offset_ps, stats[consumer].int64_value, tops]
                    elif name.endswith("StopRegion") and region is not None:
                        regions.append((region[0], base + e.offset_ps, region[1], tops))
                        region = None
                    continue
                parent = stack[-1] if stack else None
                if parent is None:
                    tops.append((base + e.offset_ps, base + e.offset_ps + e.duration_ps))
                else:
                    parent.gaps.append(max(0, e.offset_ps - parent.cursor))
                    parent.cursor = max(parent.cursor, e.offset_ps + e.duration_ps)
                frame = Frame(e, parent)
                frame.in_call = (parent is not None and parent.in_call) or name.startswith(
                    "EagerLocalExecute: __inference_"
                )
                if hlo_op is not None and hlo_op in stats:
                    module = _stat_value(plane, stats[hlo_module]) if hlo_module in stats else ""
                    frame.category, frame.label = hlo.get(
                        (module, _stat_value(plane, stats[hlo_op])), ("other", "xla " + name)
                    )
                elif data_thread:
                    # Iterator::* events are the chain of GetNext calls, which wait on the buffers
                    # filled by the pipeline's functions (their ops and executor are the work).
                    frame.category, frame.label = "input", "tf.data: " + name.split(":")[-1][:60]
                    frame.wait = name.startswith("Iterator::")
                    frame.runtime = ":" not in name.replace("::", "")
                elif ":" in name.replace("::", "") and not name.startswith(("EagerLocalExecute", "end: ")):
                    frame.category = _classify_tf_op(name, False)
                    frame.label = name.rpartition(":")[2] + " " + name[-70:]
                elif name.startswith(HELPERS) and parent is not None:
                    frame.category, frame.label, frame.helper = parent.category, parent.label, True
                else:
                    frame.category, frame.label, frame.runtime = "host", "runtime: " + name[:60], True
                    # The caller blocked in a tf.function call (its ops run on the executor's threads).
                    frame.wait = name.startswith(WAITS) or (
                        name == "KernelAndDeviceFunc::Run" and frame.in_call
                    )
                stack.append(frame)
            while stack:
                close(stack.pop())
    # A task's work counts where its enqueuing event had already ended (asynchronous work) and no
    # event of the pool thread covers it; a synchronous op's helpers run inside its own span.
    for start, stop, flow, tops in regions:
        owner, hops = owners.get(flow), 0
        while isinstance(owner, int) and hops < 64:  # a task enqueued by a task: its root's owner
            owner, hops = owners.get(owner), hops + 1
        if not isinstance(owner, tuple) or stop <= owner[2]:
            continue
        start = max(start, owner[2])
        i = bisect.bisect_left(tops, (start,)) - 1
        covered = 0
        for a, b in tops[max(i, 0) :]:
            if a >= stop:
                break
            covered += max(0, min(b, stop) - max(a, start))
        add(owner[0], owner[1], max(0, stop - start - covered))
    return totals, ops
