#!/usr/bin/env python3
"""short_tile_floor_s44: executed-path SASS counts of the sm80 short tile (one-item path). Usage: nvdisasm -g -c x.cubin > x.dis; cuobjdump -sass x.cubin > x.sass; python3 this.py x.dis x.sass (HEAD line numbers of forward_tile.cuh; the patch shifts lines after 165 by 4)."""
import sys, re, collections
import re, sys, collections
def parse(path, kname):
    ins=[]; labels={}; src=None; inside=False; pend=[]
    for line in open(path):
        if line.startswith('.text.'):
            inside = kname in line; continue
        if not inside: continue
        m=re.match(r'\s*//## File "([^"]+)", line (\d+)', line)
        if m: src=(m.group(1).split('/')[-1], int(m.group(2))); continue
        m=re.match(r'^(\.L_x_\d+):', line)
        if m: pend.append(m.group(1)); continue
        m=re.match(r'\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;', line)
        if m:
            a=int(m.group(1),16)
            for l in pend: labels[l]=len(ins)
            pend=[]
            ins.append(dict(addr=a, text=m.group(2), src=src, spill='SpillRefill' in line))
    return ins, labels
def blocks(ins, labels):
    leaders={0}
    for i,x in enumerate(ins):
        t=x['text']
        if re.search(r'\b(BRA|EXIT|RET|BRX|CALL|JMP)\b', t):
            leaders.add(i+1)
            m=re.search(r'`\((\.L_x_\d+)\)', t)
            if m and m.group(1) in labels: leaders.add(labels[m.group(1)])
    for l in labels.values(): leaders.add(l)
    L=sorted(x for x in leaders if x<len(ins))
    bl=[(L[k], L[k+1] if k+1<len(L) else len(ins)) for k in range(len(L))]
    return bl
def succ(ins, labels, b):
    s,e=b; last=ins[e-1]['text']; out=[]
    m=re.search(r'`\((\.L_x_\d+)\)', last)
    uncond = re.match(r'^(BRA|EXIT|RET|JMP)\b', last) is not None
    if 'EXIT' in last and last.startswith('@'): uncond=False
    if m and "CALL" not in last and m.group(1) in labels: out.append(labels[m.group(1)])
    if 'CALL' in last: out.append(e)
    if not uncond: out.append(e)
    return out
def onepath(path,k):
    ins,labels=parse(path,k)
    bl=blocks(ins,labels); bstart={b[0]:b for b in bl}
    first=[i for i,x in enumerate(ins) if 'BRA' in x['text']][0]
    tgt=re.search(r'`\((\.L_x_\d+)\)', ins[first]['text']).group(1)
    seen=set(); st=[labels[tgt]]
    while st:
        s=st.pop()
        if s in seen or s not in bstart: continue
        seen.add(s); st+=succ(ins,labels,bstart[s])
    return ins,labels,bl,bstart,seen,labels[tgt]
def walk(path,k,dec,verbose=True,maxn=20000):
    ins,labels,bl,bstart,seen,entry=onepath(path,k)
    i=entry; trace=[]; visits=collections.Counter()
    while i<len(ins) and len(trace)<maxn:
        x=ins[i]; t=x['text']; trace.append(i)
        if re.match(r'^EXIT',t): break
        m=re.search(r'`\((\.L_x_\d+)\)', t)
        if 'BRA' in t and m:
            visits[i]+=1
            if t.startswith('@'):
                d=dec.get(i)
                if isinstance(d,list): d=d[min(visits[i]-1,len(d)-1)]
                if d is None: d=False
                if verbose: print('  br',i,hex(x['addr']),t[:45],x['src'],'TAKEN' if d else 'fall')
                if d: i=labels[m.group(1)]; continue
            else:
                i=labels[m.group(1)]; continue
        if t.startswith('@') and 'EXIT' in t:
            d=dec.get(i,False)
            if verbose: print('  exit?',i,t,x['src'],'TAKEN' if d else 'fall')
            if d: break
        if re.match(r'^(@\S+ )?CALL',t): 
            if verbose: print('  CALL',i,t,x['src'])
        i+=1
    return ins,trace
def regions(ins,trace,rules):
    c=collections.Counter(); order=[]
    for i in trace:
        f,l=ins[i]['src'] or ('?',0)
        r=rules(f,l,i)
        if r not in c: order.append(r)
        c[r]+=1
    return [(r,c[r]) for r in order]
sys.path.insert(0, '/work/main/bench'); import sass_static_stalls as sss
def region(f,l,t):
    if f in ('work_source.cuh','forward_kernel.cuh','nan_output.cuh'): return '1 item+bounds'
    if f=='tile_context.cuh' and l<=70: return '2 tile ctx'
    if f=='mask.hpp' and l in range(60,100): return '2 tile ctx'
    if f in ('tile_loader.cuh','cp_async.cuh') and not re.search('DEPBAR',t): return '3 copies'
    if f=='segment_group.cuh' and l<45: return '3b group fill'
    if re.search(r'DEPBAR|BAR\.SYNC|WARPSYNC|BSSY|BSYNC',t): return '4 waits/barriers/sync'
    if f in ('ldmatrix.cuh','mma.cuh') : return '5 MMA+LDSM'
    if f=='segment_group.cuh' or (f=='mask.hpp') or f=='score_modifier.cuh': return '6 mask'
    if f=='tile_context.cuh' and l in range(125,140): return '6 mask'
    if f in ('online_softmax.cuh','sm_30_intrinsics.hpp') and l<130 and f=='online_softmax.cuh': return '7 softmax'
    if f in ('epilogue.cuh','store_output.cuh','sm_30_intrinsics.hpp') or (f=='online_softmax.cuh') or (f=='tile_context.cuh'): return '8 epilogue'
    if f=='forward_tile.cuh': return '9 tile loop/control (forward_tile.cuh)'
    return '? '+f
def run(path,cubin_sass,k,dec,label,fn):
    ins,tr=walk(path,k,dec,verbose=False)
    st={a:s for a,_,s in sss.parse(cubin_sass,fn)}
    c=collections.Counter(); cy=collections.Counter(); sp=0; ops=collections.Counter()
    for i in tr:
        x=ins[i]; f,l=x['src'] or ('?',0); r=region(f,l,x['text'])
        c[r]+=1; cy[r]+=st.get(x['addr'],0); sp+=x['spill']
        op=re.sub(r'^@!?\S+ ','',x['text']).split()[0]
        ops[op.split('.')[0]]+=1
    # landmarks
    pos={}
    for n,i in enumerate(tr):
        t=ins[i]['text']
        for key,pat in [('first LDG',r'^(@\S+ )?LDG\.'),('first LDGSTS','LDGSTS'),('first BAR','BAR.SYNC'),('first HMMA','HMMA'),('first MUFU.EX2','MUFU.EX2'),('first STG','STG')]:
            if key not in pos and re.search(pat,t): pos[key]=n
    lastH=max([n for n,i in enumerate(tr) if 'HMMA' in ins[i]['text']] or [-1])
    print('==',label,': path',len(tr),'instrs, static stall sum',sum(cy.values()),'cycles, spill ops on path',sp)
    for r in sorted(c): print('   %-42s %5d instrs %6d stall-cycles'%(r,c[r],cy[r]))
    print('   landmarks (position in path):',pos,'last HMMA',lastH)
    print('   ops:',', '.join('%s %d'%(o,n) for o,n in ops.most_common(18)))
    return ins,tr
def decisions(path,k,scen):
    ins,labels,bl,bstart,seen,entry=onepath(path,k)
    d={}
    for s in seen:
        for i in range(*bstart[s]):
            x=ins[i]; t=x['text']
            if not (t.startswith('@') and ('BRA' in t or 'EXIT' in t)): continue
            f,l=x['src']
            key=(f,l)
            v=None
            if key==('work_source.cuh',109): v=True
            elif f=='mask.hpp' and l in (70,71): v=True
            elif f=='forward_tile.cuh' and l in (113,119,137,152,178): v=False
            elif key==('forward_tile.cuh',139): v=True
            elif key==('forward_tile.cuh',158): v=scen=='group'
            elif key==('forward_tile.cuh',162): v=scen=='full'
            elif key==('forward_tile.cuh',172): v=True
            elif key==('tile_context.cuh',114): v=True
            elif key==('online_softmax.cuh',142): v=not t.startswith('@!')
            elif key==('epilogue.cuh',30): v=True
            elif f=='store_output.cuh': v=False
            elif f=='segment_group.cuh' and l==51: v=False
            elif 'EXIT' in t and key==('forward_tile.cuh',184): v=False
            if v is not None: d[i]=v
            else: d[i]=None; print('  undecided',i,t[:50],key)
    return d
if __name__=='__main__':
    for path,sass,tag in [(sys.argv[1],sys.argv[2],"HEAD")]:
        for k,scens in [('Li64ELi64',['group','single']),('Li80ELi64',['full'])]:
            for sc in scens:
                d=decisions(path,k,sc)
                run(path,sass,k,d,'%s %s %s'%(tag,k,sc),k)
