# Usage: python3 hopper_forward_d80_q_slices_model.py [RUNS] [INJECTION]; INJECTION is one of
# early_release, no_slice_wait, no_end_wait, wait_q0, bytes (a deliberate bug: must be caught).
INJ = None
# Random-interleaving model of the d80 tall tile's Q-slice protocol (patch as written).
# Actors: producer (1 thread), 3 consumer warpgroups (each a unit), async TMA landings and
# wgmma completions. Checks: deadlock, phase aliasing (a wait returning with a phase other
# than the one intended), mixed-phase arrivals, reads of smem not landed / of another tile,
# TMA writes into smem under an in-flight read, reads of the wrong published tile id.
import random, sys

STAGES = 2
G = 3

class Bug(Exception): pass

class MBar:
    def __init__(s, name, count):
        s.name, s.count = name, count
        s.done = 0        # completed phases
        s.arr = []        # intended phases of arrivals in the current phase
        s.tx = 0
        s.expect_armed = False
    def arrive(s, phase, tx=0):
        if phase != s.done:
            raise Bug(f"{s.name}: arrival meant for phase {phase} counted in phase {s.done}")
        s.arr.append(phase); s.tx += tx
        if len(s.arr) > s.count: raise Bug(f"{s.name}: too many arrivals")
        s.check()
    def complete_tx(s, b):
        s.tx -= b
        s.check()
    def check(s):
        if len(s.arr) == s.count and s.tx == 0:
            s.done += 1; s.arr = []
        elif s.tx < 0 and len(s.arr) == s.count:
            raise Bug(f"{s.name}: tx underflow")
    def ready(s, phase):       # hardware: parity test
        return (s.done & 1) != (phase & 1)
    def check_wait(s, phase):
        if s.done != phase + 1:
            raise Bug(f"{s.name}: wait for phase {phase} returned at {s.done} completed phases")

class Mem:
    def __init__(s, name):
        s.name = name; s.tag = None; s.landed = True; s.readers = 0; s.writing = False
    def start_write(s, tag):
        if s.readers: raise Bug(f"{s.name}: TMA write of {tag} under {s.readers} reads of {s.tag}")
        if s.writing: raise Bug(f"{s.name}: TMA write over a TMA write")
        s.tag = tag; s.landed = False; s.writing = True
    def land(s):
        s.landed = True; s.writing = False
    def start_read(s, tag):
        if not s.landed or s.tag != tag:
            raise Bug(f"{s.name}: read of {tag}, holds {s.tag} landed={s.landed}")
        s.readers += 1

def run(tiles, seed, one_tile=False, variant=None):
    rnd = random.Random(seed)
    qf = [MBar(f"q_full{s}", 1) for s in range(G)]
    qe = [MBar(f"q_empty{s}", 1) for s in range(G)]
    kf = [MBar(f"k_full{i}", 1) for i in range(STAGES)]
    vf = [MBar(f"v_full{i}", 1) for i in range(STAGES)]
    ke = [MBar(f"k_empty{i}", G) for i in range(STAGES)]
    ve = [MBar(f"v_empty{i}", G) for i in range(STAGES)]
    qm = [Mem(f"Q{s}") for s in range(G)]
    km = [Mem(f"K{i}") for i in range(STAGES)]
    vm = [Mem(f"V{i}") for i in range(STAGES)]
    published = [None, None]
    events = []   # pending async events: callables

    def tma(mem, bar, tag, nbytes):
        mem.start_write(tag)
        def land():
            mem.land(); bar.complete_tx(nbytes)
        events.append(land)

    def wait(bar, phase):
        while not bar.ready(phase):
            yield
        bar.check_wait(phase)

    def producer():
        nonlocal published
        first_step = 0
        published[0] = tiles[0] if tiles else None
        item = 0
        while True:
            if item > 0: yield from wait(qe[0], item - 1)
            t = published[item & 1]
            if t is None:
                for s in range(1, G):
                    if item > 0 and INJ != 'no_end_wait': yield from wait(qe[s], item - 1)
                    qf[s].arrive(item)
                qf[0].arrive(item)
                return
            kv = t['kv']
            def load_keys(step):
                g = first_step + step; st, ph = g % STAGES, g // STAGES
                if g >= STAGES: yield from wait(ke[st], ph - 1)
                kf[st].arrive(ph, 1); tma(km[st], kf[st], ('K', t['id'], step), 1)
            def load_values(step):
                g = first_step + step; st, ph = g % STAGES, g // STAGES
                if g >= STAGES: yield from wait(ve[st], ph - 1)
                vf[st].arrive(ph, 1); tma(vm[st], vf[st], ('V', t['id'], step), 1)
            def load_slice(s):
                if s > 0 and item > 0 and not (INJ == 'no_slice_wait' and s == 2): yield from wait(qe[s], item - 1)
                if kv == 0 or t['valid'][s] <= 0:
                    qf[s].arrive(item); return
                qf[s].arrive(item, 1 if INJ == 'bytes' else 2)
                qm[s].start_write(('Q', t['id'], s))
                qm_s = qm[s]
                def land(b=qf[s]):
                    qm_s.land(); b.complete_tx(2)
                events.append(land)
            yield from load_slice(0)
            if kv > 0: yield from load_keys(0)
            for s in range(1, G): yield from load_slice(s)
            if kv > 0:
                yield from load_values(0)
                for step in range(1, kv):
                    yield from load_keys(step); yield from load_values(step)
            first_step += kv
            nxt = tiles[item + 1] if (item + 1 < len(tiles) and not one_tile) else None
            published[(item + 1) & 1] = nxt
            item += 1
            yield

    def consumer(g):
        groups = []  # outstanding wgmma groups (list of lists of mems read)
        def issue(reads):
            groups.append(reads)
            def complete():
                r = groups.pop(0)
                for m in r: m.readers -= 1
            # completion events must be in order: schedule when it is the oldest
            events.append(('wg', g, complete))
        def wgwait(n):
            while len(groups) > n:
                yield
        first_step = 0
        item = 0
        while True:
            yield from wait(qf[0 if INJ == 'wait_q0' else g], item)
            t = published[item & 1]
            expect = tiles[item] if item < len(tiles) and (not one_tile or item == 0) else None
            if t is not expect: raise Bug(f"wg{g} read published tile {t and t['id']} for item {item}")
            if t is None: return
            kv, gs = t['kv'], t['gs'][g]
            slot = lambda step: ((first_step + step) % STAGES, (first_step + step) // STAGES)
            def sread(step):
                st, ph = slot(step)
                qm[g].start_read(('Q', t['id'], g)); km[st].start_read(('K', t['id'], step))
                issue([qm[g], km[st]])
            def pvread(step):
                st, ph = slot(step)
                vm[st].start_read(('V', t['id'], step)); issue([vm[st]])
            if gs == 0: qe[g].arrive(item)
            if gs > 0:
                st, ph = slot(0)
                yield from wait(kf[st], ph)
                sread(0)
                yield from wgwait(0)
                ke[st].arrive(ph)
                if gs == 1: qe[g].arrive(item)
                yield
            for step in range(1, gs):
                st, ph = slot(step)
                yield from wait(kf[st], ph)
                yield from wgwait(0)
                if step >= 2:
                    bs, bp = slot(step - 2); ve[bs].arrive(bp)
                sread(step)
                ps, pp = slot(step - 1)
                yield from wait(vf[ps], pp)
                pvread(step - 1)
                if INJ == 'early_release' and step == gs - 1: qe[g].arrive(item)
                yield from wgwait(1)
                ke[st].arrive(ph)
                if step == gs - 1 and INJ != 'early_release': qe[g].arrive(item)
                yield
            yield from wgwait(0)
            if gs > 0:
                if gs >= 2:
                    ps, pp = slot(gs - 2); ve[ps].arrive(pp)
                st, ph = slot(gs - 1)
                yield from wait(vf[st], ph)
                pvread(gs - 1)
                yield from wgwait(0)
                ve[st].arrive(ph)
            for step in range(gs, kv):
                st, ph = slot(step)
                yield from wait(kf[st], ph); ke[st].arrive(ph)
                yield from wait(vf[st], ph); ve[st].arrive(ph)
            yield
            first_step += kv
            item += 1
            if one_tile: return

    actors = {'p': producer(), 0: consumer(0), 1: consumer(1), 2: consumer(2)}
    steps = 0
    while actors or events:
        steps += 1
        if steps > 200000: raise Bug("livelock/too long")
        # runnable: actors (we try them; a blocked one just yields again) and events
        choices = list(actors.keys()) + [('e', i) for i in range(len(events))]
        progress = False
        rnd.shuffle(choices)
        for c in choices:
            if isinstance(c, tuple):
                ev = events[c[1]]
                if isinstance(ev, tuple):  # wgmma completion: only the oldest of its warpgroup
                    # in-order: pick the first pending wg event of that warpgroup
                    first = next(i for i, e in enumerate(events) if isinstance(e, tuple) and e[1] == ev[1])
                    if first != c[1]: continue
                    events.pop(c[1]); ev[2]()
                else:
                    events.pop(c[1]); ev()
                progress = True
                break
            else:
                # snapshot state to detect no-progress: run one step
                before = snapshot(qf, qe, kf, vf, ke, ve, events)
                try:
                    next(actors[c])
                except StopIteration:
                    del actors[c]; progress = True; break
                if snapshot(qf, qe, kf, vf, ke, ve, events) != before:
                    progress = True; break
                # a step that yielded without visible change may still be progress (yield
                # after work); treat as progress with some probability
                if rnd.random() < 0.5:
                    progress = True; break
        if not progress:
            # verify deadlock: try every actor a few times
            stuck = True
            for _ in range(3):
                for c in list(actors.keys()):
                    before = snapshot(qf, qe, kf, vf, ke, ve, events)
                    try: next(actors[c])
                    except StopIteration: del actors[c]; stuck = False
                    if snapshot(qf, qe, kf, vf, ke, ve, events) != before: stuck = False
            if stuck and not events:
                raise Bug(f"deadlock: actors {list(actors.keys())} "
                          f"q_full {[b.done for b in qf]} q_empty {[b.done for b in qe]}")
    # end: nothing in flight
    for m in qm + km + vm:
        if m.writing or m.readers: raise Bug(f"{m.name} busy at exit")
    return True

def snapshot(*bars_and_events):
    *bars, events = bars_and_events
    return (tuple((b.done, len(b.arr), b.tx) for bl in bars for b in bl), len(events))

def random_tiles(rnd, n):
    tiles = []
    for i in range(n):
        rows = rnd.choice([1, 5, 63, 64, 65, 100, 128, 129, 133, 150, 191, 192])
        kv = rnd.choice([0, 0, 1, 1, 2, 3, 4, 5])
        valid = [max(0, min(64, rows - 64 * s)) for s in range(G)]
        gs = []
        for s in range(G):
            if valid[s] <= 0 or kv == 0: gs.append(0)
            else: gs.append(rnd.choice([kv, kv, rnd.randint(0, kv)]))
        tiles.append({'id': i, 'kv': kv, 'valid': valid, 'gs': gs})
    return tiles

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    INJ = sys.argv[2] if len(sys.argv) > 2 else None
    bad = 0
    for seed in range(n):
        rnd = random.Random(seed)
        tiles = random_tiles(rnd, rnd.randint(0, 30))
        one = rnd.random() < 0.15
        try:
            run(tiles, seed * 7 + 1, one_tile=one)
        except Bug as e:
            bad += 1
            if bad <= 5: print("seed", seed, "one_tile", one, "BUG:", e)
    print("runs", n, "bugs", bad)
