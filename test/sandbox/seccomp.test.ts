// The hand-assembled seccomp program, run through a small classic-BPF interpreter for both architectures.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  BLOCKED_SYSCALLS,
  type SeccompArch,
  seccompProgram,
  writeSeccompFilter,
} from '../../src/sandbox/seccomp.js';

const ALLOW = 0x7fff0000;
const EPERM = 0x00050001;
const ENOSYS = 0x00050026;
const KILL_PROCESS = 0x80000000;

/** Runs a seccomp BPF program on one syscall the way the kernel does (only the opcodes a filter uses). */
function evaluate(program: Buffer, data: { nr: number; arch: number; args?: number[] }): number {
  const word = (offset: number): number => {
    if (offset === 0) return data.nr >>> 0;
    if (offset === 4) return data.arch >>> 0;
    if (offset >= 16 && offset < 64 && offset % 8 === 0) return (data.args?.[(offset - 16) / 8] ?? 0) >>> 0;
    if (offset >= 16 && offset < 64) return 0; // high halves of the 64-bit arguments
    throw new Error(`load of offset ${offset} outside seccomp_data`);
  };
  let acc = 0;
  for (let pc = 0; pc < program.length / 8; ) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    switch (code) {
      case 0x20:
        acc = word(k);
        pc++;
        break;
      case 0x15:
        pc += 1 + (acc === k ? jt : jf);
        break;
      case 0x35:
        pc += 1 + (acc >= k ? jt : jf);
        break;
      case 0x45:
        pc += 1 + ((acc & k) !== 0 ? jt : jf);
        break;
      case 0x06:
        return k;
      default:
        throw new Error(`unexpected opcode ${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error('fell off the end of the program');
}

const ARCH = { x86_64: 0xc000003e, aarch64: 0xc00000b7 } as const;
/** A few syscall numbers per architecture: [blocked?, name, nr]. */
const CASES: Record<SeccompArch, [string, number, number][]> = {
  x86_64: [
    ['read', 0, ALLOW],
    ['openat', 257, ALLOW],
    ['execve', 59, ALLOW],
    ['ptrace', 101, EPERM],
    ['mount', 165, EPERM],
    ['keyctl', 250, EPERM],
    ['bpf', 321, EPERM],
    ['perf_event_open', 298, EPERM],
    ['userfaultfd', 323, EPERM],
    ['unshare', 272, EPERM],
    ['setns', 308, EPERM],
    ['kexec_load', 246, EPERM],
    ['io_uring_setup', 425, EPERM],
    ['clone3', 435, ENOSYS],
    ['x32 read', 0x40000000, EPERM],
  ],
  aarch64: [
    ['read', 63, ALLOW],
    ['openat', 56, ALLOW],
    ['execve', 221, ALLOW],
    ['ptrace', 117, EPERM],
    ['mount', 40, EPERM],
    ['keyctl', 219, EPERM],
    ['bpf', 280, EPERM],
    ['unshare', 97, EPERM],
    ['clone3', 435, ENOSYS],
  ],
};
const CLONE_NR: Record<SeccompArch, number> = { x86_64: 56, aarch64: 220 };

describe('seccompProgram', () => {
  for (const arch of ['x86_64', 'aarch64'] as const) {
    describe(arch, () => {
      const program = seccompProgram(arch);

      it('is whole 8-byte instructions, within the kernel’s 4096-instruction limit', () => {
        assert.equal(program.length % 8, 0);
        assert.ok(program.length / 8 < 4096);
      });

      it('allows ordinary calls and refuses the blocked ones', () => {
        for (const [name, nr, expected] of CASES[arch]) {
          assert.equal(evaluate(program, { nr, arch: ARCH[arch] }).toString(16), expected.toString(16), name);
        }
      });

      it('allows clone for threads and processes, refuses it with namespace flags', () => {
        const clone = (flags: number): number =>
          evaluate(program, { nr: CLONE_NR[arch], arch: ARCH[arch], args: [flags] });
        assert.equal(clone(0x003d0f00), ALLOW, 'pthread_create flags');
        assert.equal(clone(0x01200011), ALLOW, 'fork flags (SIGCHLD|CHILD_SETTID|CHILD_CLEARTID)');
        assert.equal(clone(0x10000000 | 0x11), EPERM, 'CLONE_NEWUSER');
        assert.equal(clone(0x20000000 | 0x11), EPERM, 'CLONE_NEWPID');
        assert.equal(clone(0x40000000), EPERM, 'CLONE_NEWNET');
      });

      it('kills a process that calls in through another architecture’s ABI', () => {
        const foreign = arch === 'x86_64' ? 0x40000003 /* i386 */ : 0x40000028; /* arm */
        assert.equal(evaluate(program, { nr: 0, arch: foreign }), KILL_PROCESS);
      });
    });
  }

  it('every blocked call has a reason', () => {
    for (const [name, reason] of Object.entries(BLOCKED_SYSCALLS)) assert.ok(reason.length > 3, name);
  });

  it('writes the filter where the launcher opens it', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-seccomp-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = writeSeccompFilter(dir, 'x86_64');
    assert.deepEqual(readFileSync(path), seccompProgram('x86_64'));
  });
});
