import { describe, expect, it } from 'vitest'
import { BlockError, CryptoError, DagtufError, DecodeError, KeyFileError, RepoError, StateError, UsageError, ValidationError, isDagtufError } from '../../src/model/errors.js'

describe('the error hierarchy', () => {
  it('every class has a fixed name, keeps code, cause and details, and serialises without the stack', () => {
    const cause = new Error('inner')
    const classes = [DecodeError, CryptoError, ValidationError, BlockError, KeyFileError, RepoError, StateError, UsageError]
    const names = new Set<string>()
    for (const C of classes) {
      const e = new C('ERR_X', 'message', { cause, details: { cid: 'bafy' } })
      expect(e).toBeInstanceOf(DagtufError)
      expect(isDagtufError(e)).toBe(true)
      expect(e.code).toBe('ERR_X')
      expect(e.cause).toBe(cause)
      expect(e.toJSON()).toEqual({ name: e.name, code: 'ERR_X', message: 'message', cid: 'bafy' })
      names.add(e.name)
    }
    expect(names.size).toBe(classes.length)
    expect(new ValidationError('VALID-ROOT-SELF', 'm').rule).toBe('VALID-ROOT-SELF')
    expect(isDagtufError(new Error('x'))).toBe(false)
  })
})
