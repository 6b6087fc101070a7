// A vocabulary file (suites/vocabulary/*.yaml): the constants, flag sets, structs and ioctls suites
// may name, in the kernel's own names. zod checks the shape; load.ts resolves names and layouts.
import { z } from '../zod.js';

const CName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a C identifier');
const Integer = z.union([z.number().int(), z.string().regex(/^(0x[0-9a-fA-F]+|\d+)$/, 'a number (decimal or 0x…)')]);

const FieldSchema = z.union([
  z.string(),
  z.strictObject({
    type: z.string(),
    /** a flag set of this file or another: encode takes its names, decode gives them */
    flags: CName.optional(),
    /** a C anonymous struct/union member: its fields are the parent's (offsetof(parent, inner) in C) */
    anonymous: z.boolean().optional(),
  }),
]);

const StructSchema = z.strictObject({
  /** `struct NAME` unless given (`union NAME`, a typedef), or false: anonymous in C (a member of another) */
  c: z.union([z.string(), z.literal(false)]).optional(),
  union: z.boolean().default(false),
  /** __attribute__((packed)): no padding, alignment 1 */
  packed: z.boolean().default(false),
  /** sizeof in the kernel's headers: the computed layout must agree */
  size: z.number().int().positive().optional(),
  fields: z.record(CName, FieldSchema),
});

const IoctlSchema = z.union([
  z.strictObject({
    /** _IO / _IOR / _IOW / _IOWR */
    dir: z.enum(['none', 'R', 'W', 'WR']),
    /** the ioctl type: a byte or one character ('E') */
    type: z.union([z.number().int().min(0).max(255), z.string().length(1)]),
    nr: z.number().int().min(0).max(255),
    /** what the argument points at (its size goes into the number); absent with dir none */
    arg: z.string().optional(),
    /** the argument is passed as an integer, not a pointer (EVIOCREVOKE: _IOW('E', 0x91, int), called with 0) */
    byValue: z.boolean().default(false),
    /** field of the argument that returns a new fd, "arg" when the argument is the int it is written to, or "return" when ioctl(2)'s result is the fd */
    fd: z.string().optional(),
    /** the C expression for the number when the name is a function-like macro: EVIOCGNAME(256) */
    c: z.string().optional(),
    description: z.string().optional(),
  }),
  z.strictObject({
    /** a number from before _IOC (I2C_SLAVE 0x0703, TCGETS 0x5401) */
    number: Integer,
    arg: z.string().optional(),
    byValue: z.boolean().default(false),
    fd: z.string().optional(),
    c: z.string().optional(),
    description: z.string().optional(),
  }),
]);

/** Calls in a row on one fd, as a tool makes them (i2cget: I2C_SLAVE, then I2C_SMBUS). */
const SequenceSchema = z.strictObject({
  description: z.string().optional(),
  /** the arguments a suite gives; "${name}" in a step's args stands for one */
  params: z.array(CName).default([]),
  steps: z
    .array(z.strictObject({ ioctl: CName, args: z.unknown().optional() }))
    .min(1)
    .max(8),
});

export const VocabularyFileSchema = z.strictObject({
  /** UAPI headers that declare these (the layout test compiles sizeof/offsetof against them) */
  headers: z.array(z.string().regex(/^[a-z0-9_/.-]+\.h$/, 'a header like linux/gpio.h')).min(1),
  constants: z.record(CName, Integer).default({}),
  /** named bits; `c` is the headers' prefix of their macros (GPIO_V2_LINE_FLAG_ + USED), checked by the layout test */
  flags: z.record(CName, z.strictObject({ c: CName.optional(), values: z.record(CName, Integer) })).default({}),
  structs: z.record(CName, StructSchema).default({}),
  ioctls: z.record(CName, IoctlSchema).default({}),
  sequences: z.record(CName, SequenceSchema).default({}),
});
export type VocabularyFile = z.infer<typeof VocabularyFileSchema>;
