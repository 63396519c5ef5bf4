# List-scheduling model of the Hopper d128 forward's persistent grid (132 CTAs, a tile costs steps + F):
# when a CTA claims its next rank (at the current tile's start, or some steps before its end)
# against HEAD (F 2.2 steps, claim ~2 steps before the end). hopper_forward_d128_q_double_buffer_review.md, F1.
import heapq, math
SM=132
def size_slot(n): return 31-n.bit_length()
def run(order, F, claim_before=None, early=False):
    # order: list of step counts. claim_before: steps before the current tile's end
    end=[0.0]*SM; busy=[0.0]*SM
    it=iter(order)
    if early:
        for i in range(SM):
            c=next(it)+F; end[i]=c; busy[i]+=c
        heap=[(0.0,i) for i in range(SM)]
        for n in it:
            t,i=heapq.heappop(heap); c=n+F; start=end[i]; end[i]=start+c; busy[i]+=c
            heapq.heappush(heap,(start,i))
    else:
        heap=[(0.0,i) for i in range(SM)]
        for n in it:
            t,i=heapq.heappop(heap); c=n+F; start=end[i]; end[i]=start+c; busy[i]+=c
            heapq.heappush(heap,(max(start,end[i]-claim_before),i))
    return max(end)
def show(name, order):
    base=run(order,2.2,claim_before=2)
    print(name, f"tiles {len(order)}, mean steps {sum(order)/len(order):.1f}")
    for lab,F,cb,e in (("HEAD: F 2.2, claim 2 before end",2.2,2,False),
                       ("patch: F 1.3, claim at tile start",1.3,None,True),
                       ("patch-F, claim 2 before end (ideal)",1.3,2,False),
                       ("fix: F 1.3, claim 5 before end",1.3,5,False),
                       ("fix: F 1.3, claim 8 before end",1.3,8,False)):
        m=run(order,F,claim_before=cb,early=e)
        print(f"  {lab:40s} makespan {m:8.1f} steps  vs HEAD {m/base*100-100:+.2f}%")
# long-d128-causal: 16 heads x 128 tiles of t+1 steps; list grouped by class (longest class first), segment order within; one class, head-major
lst=sorted([t+1 for t in range(128)], key=lambda n:(size_slot(n)))  # stable: ascending t within class
show("long-d128-causal fused_device", [n for h in range(16) for n in lst])
lst2=sorted([t+1 for t in range(128)], key=lambda n:-n)
show("long-d128-causal, strictly longest first", [n for h in range(16) for n in lst2])
show("long-d128 fused_device", [128]*2048)
L=[2072, 1950, 257, 2683, 2877, 459, 3633, 1321, 1458, 2746, 1049, 2717, 2694, 1334, 554, 1799]
items=[]
for s,l in enumerate(L):
    nt=math.ceil(l/128)
    for t in range(nt): items.append((t+1, -l))
ci=[n for n,_ in sorted(items,key=lambda x:(size_slot(x[0])))]
show("llm-d128-causal (one class, class-grouped list)", [n for h in range(32) for n in ci])
nc=[]
for s,l in sorted(enumerate(L),key=lambda x:-x[1]):
    nt=math.ceil(l/128); nc+= [nt]*nt
cls={}
for n in nc: cls.setdefault(size_slot(n),[]).append(n)
show("llm-d128 (class-major)", [n for sl in sorted(cls) for h in range(32) for n in cls[sl]])
