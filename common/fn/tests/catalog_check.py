#!/usr/bin/env python3
"""Developer check of the built-in functions against the catalog examples
without `porchctl fn render/eval`: source the package, build the
functionConfig the way kpt does, run fn-run, sink, and compare `git diff`
with .expected/diff.patch. Usage: catalog_check.py BUILD_DIR [NAME-REGEX]"""
import os, re, shutil, subprocess, sys, tempfile
import yaml

build, pat = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else '')
ex_root = '/work/shared/conformance/fn-catalog/examples'
porchctl, fnrun = f'{build}/bin/porchctl', f'{build}/bin/fn-run'
env = dict(os.environ, LC_ALL='C', GIT_CONFIG_GLOBAL='/dev/null', GIT_CONFIG_NOSYSTEM='1')
passed = failed = 0

def git(d, *a):
    return subprocess.run(['git', '-C', d, *a], capture_output=True, text=True, env=env).stdout

def run(name):
    src = os.path.join(ex_root, name)
    cfgp = os.path.join(src, '.expected', 'config.yaml')
    cfg = yaml.safe_load(open(cfgp)) if os.path.exists(cfgp) else {}
    cfg = cfg or {}
    if cfg.get('skip') or os.path.exists(os.path.join(src, '.expected', 'exec.sh')):
        return None
    tmp = tempfile.mkdtemp()
    pkg = os.path.join(tmp, name)
    shutil.copytree(src, pkg, ignore=shutil.ignore_patterns('.expected'))
    git(pkg, 'init', '-q'); git(pkg, 'add', '-A')
    git(pkg, '-c', 'user.email=a@b', '-c', 'user.name=a', 'commit', '-qm', 'first')
    steps = []
    if cfg.get('testType') == 'eval':
        fc = None
        if cfg.get('fnConfig'):
            fc = yaml.safe_load(open(os.path.normpath(os.path.join(src, '.expected', cfg['fnConfig']))))
        elif cfg.get('args'):
            fc = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'function-input'},
                  'data': {k: str(v) for k, v in cfg['args'].items()}}
        steps.append((cfg['image'], fc))
    else:
        kf = yaml.safe_load(open(os.path.join(src, 'Kptfile')))
        for m in (kf.get('pipeline') or {}).get('mutators') or []:
            fc = None
            if 'configMap' in m:
                fc = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'function-input'},
                      'data': m['configMap']}
            elif 'configPath' in m:
                fc = yaml.safe_load(open(os.path.join(src, m['configPath'])))
            steps.append((m['image'], fc))
    hidden = None
    if cfg.get('fnConfig'):
        fcp = os.path.normpath(os.path.join(pkg, '.expected', cfg['fnConfig']))
        if os.path.exists(fcp):
            hidden = (fcp, open(fcp).read()); os.remove(fcp)
    rl = subprocess.run([porchctl, 'fn', 'source', pkg], capture_output=True, text=True).stdout
    log = ''
    for image, fc in steps:
        doc = yaml.safe_load(rl) if False else None
        if fc is not None:
            rl = rl.rstrip('\n') + '\nfunctionConfig:\n' + ''.join('  ' + l + '\n' for l in yaml.safe_dump(fc, sort_keys=False).splitlines())
        p = subprocess.run([fnrun, image], input=rl, capture_output=True, text=True)
        log += p.stderr
        rl = p.stdout
    out = os.path.join(tmp, 'out')
    subprocess.run([porchctl, 'fn', 'sink', out], input=rl, capture_output=True, text=True)
    for dp, dns, fns in os.walk(pkg):
        dns[:] = [d for d in dns if d not in ('.git', '.expected')]
        for f in fns:
            if f == 'Kptfile' or f.endswith(('.yaml', '.yml')):
                os.remove(os.path.join(dp, f))
    for dp, dns, fns in os.walk(out):
        for f in fns:
            rel = os.path.relpath(os.path.join(dp, f), out)
            os.makedirs(os.path.dirname(os.path.join(pkg, rel)), exist_ok=True)
            shutil.move(os.path.join(dp, f), os.path.join(pkg, rel))
    if hidden:
        open(hidden[0], 'w').write(hidden[1])
    git(pkg, 'add', '-A')
    git(pkg, '-c', 'user.email=a@b', '-c', 'user.name=a', 'commit', '-qm', 'second', '--allow-empty')
    diff = git(pkg, 'diff', 'HEAD~1', 'HEAD').strip()
    expp = os.path.join(src, '.expected', 'diff.patch')
    exp = open(expp).read().strip() if os.path.exists(expp) else ''
    ok = diff == exp
    if not ok:
        open(f'/tmp/cc-{name}.diff', 'w').write(diff + '\n')
        subprocess.run(['diff', '-u', expp if os.path.exists(expp) else '/dev/null', f'/tmp/cc-{name}.diff'])
    print(log, end='')
    shutil.rmtree(tmp)
    return ok

for name in sorted(os.listdir(ex_root)):
    if not re.search(pat, name):
        continue
    r = run(name)
    if r is None:
        print('SKIP', name); continue
    print('PASS' if r else 'FAIL', name)
    passed += r; failed += not r
print(f'{passed} passed, {failed} failed')
