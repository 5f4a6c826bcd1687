/**
 * MILENAGE, the 3GPP example authentication and key generation functions f1, f1*, f2, f3,
 * f4, f5 and f5* (3GPP TS 35.206 §4), with AES-128 as the kernel function E_K
 * (TS 35.206 §4.1, node:crypto 'aes-128-ecb').
 *
 * Lengths (TS 35.206 §3): K, OP, OPc, RAND 16 bytes; SQN 6; AMF 2; MAC-A, MAC-S, RES 8;
 * CK, IK 16; AK, AK* 6.
 */
import { createCipheriv, type Cipher } from 'node:crypto';

/** Every MILENAGE output for one RAND, SQN and AMF. */
export interface MilenageOutput {
  /** f1: network authentication code MAC-A. */
  readonly macA: Buffer;
  /** f1*: resynchronisation authentication code MAC-S. */
  readonly macS: Buffer;
  /** f2: response RES (XRES on the network side). */
  readonly res: Buffer;
  /** f3: cipher key CK. */
  readonly ck: Buffer;
  /** f4: integrity key IK. */
  readonly ik: Buffer;
  /** f5: anonymity key AK. */
  readonly ak: Buffer;
  /** f5*: resynchronisation anonymity key AK*. */
  readonly akStar: Buffer;
}

/** Outputs of f2, f3, f4 and f5, which depend on RAND only. */
export interface MilenageKeys {
  readonly res: Buffer;
  readonly ck: Buffer;
  readonly ik: Buffer;
  readonly ak: Buffer;
}

/** The operator key: OP (OPc is derived) or OPc directly (TS 35.206 §4.1). */
export type OperatorKey = { readonly op: Buffer } | { readonly opc: Buffer };

const BLOCK = 16;

/** Constants c1..c5 (TS 35.206 §4.1): c1 = 0, c2 = ..01, c3 = ..02, c4 = ..04, c5 = ..08. */
const C = [0x00, 0x01, 0x02, 0x04, 0x08] as const;
/** Rotations r1..r5 in bytes (TS 35.206 §4.1): 64, 0, 32, 64, 96 bits. */
const R = [8, 0, 4, 8, 12] as const;

function expectLength(name: string, value: Buffer, length: number): void {
  if (!Buffer.isBuffer(value) || value.length !== length) {
    throw new RangeError(`${name} must be a Buffer of ${length} bytes`);
  }
}

function newCipher(k: Buffer): Cipher {
  expectLength('K', k, BLOCK);
  const cipher = createCipheriv('aes-128-ecb', k, null);
  cipher.setAutoPadding(false);
  return cipher;
}

function xorInto(target: Buffer, other: Buffer): Buffer {
  for (let i = 0; i < BLOCK; i++) target[i]! ^= other[i]!;
  return target;
}

/** OPc = OP ⊕ E_K(OP), TS 35.206 §4.1. */
export function computeOpc(k: Buffer, op: Buffer): Buffer {
  expectLength('OP', op, BLOCK);
  return xorInto(newCipher(k).update(op), op);
}

/**
 * MILENAGE for one subscriber key K. The AES key schedule is set up once per instance
 * (an ECB cipher without padding is reused block by block), so keep an instance while
 * computing several vectors for the same K.
 */
export class Milenage {
  /** OPc for this subscriber (derived from OP if OP was given). */
  readonly opc: Buffer;
  private readonly cipher: Cipher;

  constructor(k: Buffer, operatorKey: OperatorKey) {
    this.cipher = newCipher(k);
    if ('opc' in operatorKey) {
      expectLength('OPc', operatorKey.opc, BLOCK);
      this.opc = Buffer.from(operatorKey.opc);
    } else {
      expectLength('OP', operatorKey.op, BLOCK);
      this.opc = xorInto(this.encrypt(operatorKey.op), operatorKey.op);
    }
  }

  /** f1: MAC-A (TS 35.206 §4.1, first 64 bits of OUT1). */
  f1(rand: Buffer, sqn: Buffer, amf: Buffer): Buffer {
    return this.out1(rand, sqn, amf).subarray(0, 8);
  }

  /** f1*: MAC-S (TS 35.206 §4.1, last 64 bits of OUT1). */
  f1star(rand: Buffer, sqn: Buffer, amf: Buffer): Buffer {
    return this.out1(rand, sqn, amf).subarray(8, 16);
  }

  /** f2: RES, bits 64..127 of OUT2. */
  f2(rand: Buffer): Buffer {
    return this.out(this.temp(rand), 1).subarray(8, 16);
  }

  /** f3: CK = OUT3. */
  f3(rand: Buffer): Buffer {
    return this.out(this.temp(rand), 2);
  }

  /** f4: IK = OUT4. */
  f4(rand: Buffer): Buffer {
    return this.out(this.temp(rand), 3);
  }

  /** f5: AK, bits 0..47 of OUT2. */
  f5(rand: Buffer): Buffer {
    return this.out(this.temp(rand), 1).subarray(0, 6);
  }

  /** f5*: AK*, bits 0..47 of OUT5. */
  f5star(rand: Buffer): Buffer {
    return this.out(this.temp(rand), 4).subarray(0, 6);
  }

  /** f2, f3, f4 and f5 sharing one TEMP (4 AES blocks). */
  f2345(rand: Buffer): MilenageKeys {
    const temp = this.temp(rand);
    const out2 = this.out(temp, 1);
    return {
      res: out2.subarray(8, 16),
      ck: this.out(temp, 2),
      ik: this.out(temp, 3),
      ak: out2.subarray(0, 6),
    };
  }

  /** Every function at once (6 AES blocks). */
  compute(rand: Buffer, sqn: Buffer, amf: Buffer): MilenageOutput {
    const temp = this.temp(rand);
    const out1 = this.out1WithTemp(temp, sqn, amf);
    const out2 = this.out(temp, 1);
    return {
      macA: out1.subarray(0, 8),
      macS: out1.subarray(8, 16),
      res: out2.subarray(8, 16),
      ck: this.out(temp, 2),
      ik: this.out(temp, 3),
      ak: out2.subarray(0, 6),
      akStar: this.out(temp, 4).subarray(0, 6),
    };
  }

  private encrypt(block: Buffer): Buffer {
    return this.cipher.update(block);
  }

  /** TEMP = E_K(RAND ⊕ OPc). */
  private temp(rand: Buffer): Buffer {
    expectLength('RAND', rand, BLOCK);
    return this.encrypt(xorInto(Buffer.from(rand), this.opc));
  }

  private out1(rand: Buffer, sqn: Buffer, amf: Buffer): Buffer {
    return this.out1WithTemp(this.temp(rand), sqn, amf);
  }

  /** OUT1 = E_K(TEMP ⊕ rot(IN1 ⊕ OPc, r1) ⊕ c1) ⊕ OPc, IN1 = SQN‖AMF‖SQN‖AMF. */
  private out1WithTemp(temp: Buffer, sqn: Buffer, amf: Buffer): Buffer {
    expectLength('SQN', sqn, 6);
    expectLength('AMF', amf, 2);
    const in1 = Buffer.allocUnsafe(BLOCK);
    sqn.copy(in1, 0);
    amf.copy(in1, 6);
    sqn.copy(in1, 8);
    amf.copy(in1, 14);
    xorInto(in1, this.opc);
    const block = Buffer.allocUnsafe(BLOCK);
    for (let i = 0; i < BLOCK; i++) block[i] = temp[i]! ^ in1[(i + R[0]) % BLOCK]!;
    return xorInto(this.encrypt(block), this.opc);
  }

  /** OUTn = E_K(rot(TEMP ⊕ OPc, rn) ⊕ cn) ⊕ OPc for n = 2..5 (index 1..4). */
  private out(temp: Buffer, index: 1 | 2 | 3 | 4): Buffer {
    const rot = R[index];
    const block = Buffer.allocUnsafe(BLOCK);
    for (let i = 0; i < BLOCK; i++) {
      const j = (i + rot) % BLOCK;
      block[i] = temp[j]! ^ this.opc[j]!;
    }
    block[BLOCK - 1]! ^= C[index];
    return xorInto(this.encrypt(block), this.opc);
  }
}
