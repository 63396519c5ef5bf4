# SPDX-License-Identifier: Apache-2.0
# A toy of the Hopper d64 dK/dV step's two consumer warpgroups (hopper_backward_d64_by_role.md,
# section 3): tensor pipe = one FIFO of HGMMAs in issue time (a warp's HGMMAs `delta` cycles
# apart), ALU phases shared (rate `share` each when both warpgroups run one), barriers 1
# and 3 as in the kernel. Orders: 'head' (HEAD), 'byrole' (the patch), 'rdv' (only the
# reducer's dV after its dQ), 'dqfirst' (both dVs after dQ). Cycles; not a measurement.
GR={}
CUR=[-10**9,-10**9]
# Toy two-warpgroup model of the d64 dK/dV step (cycles). Not a measurement.
import sys, itertools
def program(order, w, p):
    R = (w == 1)  # reducer
    ops = [('fixed', p['top']), ('issue','S',256), ('issue','dP',256), ('wait',1),
           ('alu', p['a1']), ('wait',0), ('alu', p['a2'])]
    if order == 'head':
        ops += [('issue','dV',256), ('fixed',p['fence']), ('bar',1)]
        ops += [('issue','dQ',256), ('issue','dK',256), ('wait',1)]
    elif order == 'byrole':
        if not R: ops += [('issue','dV',256), ('issue','dK',256)]
        ops += [('fixed',p['fence']), ('bar',1), ('issue','dQ',256)]
        if R: ops += [('issue','dV',256), ('issue','dK',256), ('wait',2)]
        else: ops += [('wait',0)]
    elif order == 'rdv':  # reducer defers dV only
        if not R: ops += [('issue','dV',256)]
        ops += [('fixed',p['fence']), ('bar',1), ('issue','dQ',256)]
        if R: ops += [('issue','dV',256), ('issue','dK',256), ('wait',2)]
        else: ops += [('issue','dK',256), ('wait',1)]
    elif order == 'dqfirst':  # both defer dV
        ops += [('fixed',p['fence']), ('bar',1), ('issue','dQ',256), ('issue','dV',256), ('issue','dK',256), ('wait',2)]
    ops += [('stage', p['stage'])]
    ops += [('bar3',)]
    if R: ops += [('fixed', p['red'])]
    ops += [('wait',0)]
    return ops

def sim(order, p, steps=40, pipe='fifo'):
    CUR[0]=CUR[1]=-10**9
    progs = [[program(order,w,p) for _ in range(steps)] for w in range(2)]
    pc = [[0,0],[0,0]]  # (step, op)
    rem = [None,None]   # remaining work of current op
    q = []              # tensor pipe: [wg, name, remaining, step]
    pend = [0,0]
    bar = {}            # (id, step) -> set of arrived
    t = 0; step_start = [[],[]]; busy = 0
    done = [False,False]
    barwait=[0,0]
    while not all(done) and t < 10**6:
        # ALU sharing
        active_alu = [w for w in range(2) if not done[w] and progs[w][pc[w][0]][pc[w][1]][0] in ('alu','stage')]
        rate = 1.0 if len(active_alu) < 2 else p['share']
        for w in range(2):
            if done[w]: continue
            while True:
                s,i = pc[w]
                if i == 0 and rem[w] is None and (len(step_start[w]) <= s): step_start[w].append(t)
                op = progs[w][s][i]; k = op[0]; adv = False
                if k == 'fixed' or k in ('alu','stage'):
                    if rem[w] is None: rem[w] = op[1]
                    if rem[w] <= 0: adv = True
                    else:
                        rem[w] -= (rate if k in ('alu','stage') and w in active_alu else 1); break
                elif k == 'issue':
                    n = 4 if op[1] in ('S','dP') else 8
                    gid=(w,s,op[1])
                    GR[gid]=n
                    for j in range(n):
                        CUR[w] = max(t, CUR[w] + p.get('delta',6))
                        q.append([CUR[w], w, op[1], op[2]/n, s, gid])
                    pend[w] += 1; adv = True
                elif k == 'wait':
                    if pend[w] <= op[1]: adv = True
                    else: break
                elif k == 'bar':
                    key=(op[1],s); bar.setdefault(key,set()).add(w)
                    if len(bar[key]) == 2: adv = True
                    else: barwait[w]+=1; break
                elif k == 'bar3':
                    key=(3,s); bar.setdefault(key,set()).add(w)
                    if w == 0 or len(bar[key]) == 2: adv = True
                    else: break
                if adv:
                    rem[w] = None; pc[w][1] += 1
                    if pc[w][1] == len(progs[w][s]):
                        pc[w] = [s+1, 0]
                        if s+1 == steps: done[w] = True; break
                    continue
                break
        # tensor pipe
        if q:
            busy += 1
            if pipe == 'fifo':
                avail=[g for g in q if g[0] <= t]
                if avail:
                    g=min(avail, key=lambda g:(g[0],g[1])); g[3]-=1
                    if g[3] <= 0:
                        q.remove(g); GR[g[5]]-=1
                        if GR[g[5]]==0: pend[g[1]] -= 1
            else:  # share between the two warpgroups' heads
                heads = []
                for w in range(2):
                    for g in q:
                        if g[0] == w: heads.append(g); break
                for g in heads:
                    g[2] -= 1.0/len(heads)
                    if g[2] <= 0: q.remove(g); pend[g[0]] -= 1
        t += 1
    a, b = 10, steps - 5
    per = (step_start[1][b] - step_start[1][a]) / (b - a)
    lag = sum(step_start[1][s]-step_start[0][s] for s in range(a,b))/(b-a)
    return per, lag, barwait[0]/steps, barwait[1]/steps

base = dict(top=150, a1=256, a2=420, fence=40, stage=300, red=130, share=0.55)
orders = ['head','byrole','rdv','dqfirst']
def show(p, pipe='fifo'):
    r = {o: sim(o,p,pipe=pipe) for o in orders}
    h = r['head'][0]
    print(' '.join(f"{o}: {v[0]:6.0f} ({(v[0]/h-1)*100:+5.1f}%, lag {v[1]:4.0f}, bar1 wg0 {v[2]:4.0f})" for o,v in r.items()))

if __name__ == '__main__':
    # The grid quoted in hopper_backward_d64_by_role.md: red = the reducer's tail (BAR 3 +
    # reductions), delta = cycles between a warp's HGMMA issues (how finely the two
    # warpgroups' products interleave in the pipe), a2 = exp2 second half + dS, stage = dQ
    # staging + fence.
    import itertools, statistics
    res = []
    for red, d, a2, st in itertools.product((60, 130, 250), (4, 8, 16), (420, 600), (300, 450)):
        p = dict(base); p.update(red=red, delta=d, a2=a2, stage=st, top=250)
        h = sim('head', p, steps=24)[0]; b = sim('byrole', p, steps=24)[0]
        res.append((b / h - 1) * 100)
        print(f"red {red:3d} delta {d:2d} a2 {a2} stage {st}: head {h:5.0f}, by role {b:5.0f} ({res[-1]:+.1f}%)")
    print('median %+.1f%%, min %+.1f%%, max %+.1f%%, by role faster in %d of %d' %
          (statistics.median(res), min(res), max(res), sum(r < 0 for r in res), len(res)))
