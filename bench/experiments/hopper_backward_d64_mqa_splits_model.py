# SPDX-License-Identifier: Apache-2.0
# Greedy 132-SM model of the MQA d64 dK/dV launch (llm-d64-mqa-causal lengths, causal, 128-key
# tiles, 128-query steps) by q heads a CTA (backward_head_splits), size-class-major, unit-major
# ranks; F = a per-CTA fixed cost in steps. Output in hopper_backward_d64_dq_normal_form.md.
import heapq, math
L=[2072,1950,257,2683,2877,459,3633,1321,1458,2746,1049,2717,2694,1334,554,1799]
def run(heads_per_cta, F, tailfrac=1.0, sms=132):
    splits=32//heads_per_cta
    items=[]
    for s,l in enumerate(L):
        nsteps=math.ceil(l/128)
        for kt in range(nsteps):
            st=nsteps-kt
            items.append(st)
    # classes by log2(steps) descending (longest first), unit-major within a class
    byc={}
    for it in items: byc.setdefault(int(math.log2(it)),[]).append(it)
    order=[]
    for c in sorted(byc,reverse=True):
        for u in range(splits):
            order+=byc[c]
    sm=[0.0]*sms; heapq.heapify(sm)
    end=0
    for st in order:
        t=heapq.heappop(sm); t+=st*heads_per_cta+F; end=max(end,t); heapq.heappush(sm,t)
    total=sum(order)*heads_per_cta
    return len(order), total/sms, end
for F in (0.3,1,2):
    for h in (2,4,8,16):
        n,avg,end=run(h,F)
        print(f"F={F} heads/CTA={h:2d} CTAs={n:5d} mean/SM={avg:7.1f} end={end:7.1f} steps")
