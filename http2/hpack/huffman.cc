#include "http2/hpack/huffman.h"

#include <algorithm>
#include <cstring>

namespace alts::hpack {
namespace {

// HuffmanCode is one symbol's code: `bits` bits, right-aligned in `code`.
struct HuffmanCode {
  uint32_t code;
  uint8_t bits;
};

// kCodes is RFC 7541 Appendix B, indexed by symbol (256 is EOS).
constexpr HuffmanCode kCodes[257] = {
    {0x1ff8, 13},  // 0
    {0x7fffd8, 23},  // 1
    {0xfffffe2, 28},  // 2
    {0xfffffe3, 28},  // 3
    {0xfffffe4, 28},  // 4
    {0xfffffe5, 28},  // 5
    {0xfffffe6, 28},  // 6
    {0xfffffe7, 28},  // 7
    {0xfffffe8, 28},  // 8
    {0xffffea, 24},  // 9
    {0x3ffffffc, 30},  // 10
    {0xfffffe9, 28},  // 11
    {0xfffffea, 28},  // 12
    {0x3ffffffd, 30},  // 13
    {0xfffffeb, 28},  // 14
    {0xfffffec, 28},  // 15
    {0xfffffed, 28},  // 16
    {0xfffffee, 28},  // 17
    {0xfffffef, 28},  // 18
    {0xffffff0, 28},  // 19
    {0xffffff1, 28},  // 20
    {0xffffff2, 28},  // 21
    {0x3ffffffe, 30},  // 22
    {0xffffff3, 28},  // 23
    {0xffffff4, 28},  // 24
    {0xffffff5, 28},  // 25
    {0xffffff6, 28},  // 26
    {0xffffff7, 28},  // 27
    {0xffffff8, 28},  // 28
    {0xffffff9, 28},  // 29
    {0xffffffa, 28},  // 30
    {0xffffffb, 28},  // 31
    {0x14, 6},  // 32 ' '
    {0x3f8, 10},  // 33 '!'
    {0x3f9, 10},  // 34 '"'
    {0xffa, 12},  // 35 '#'
    {0x1ff9, 13},  // 36 '$'
    {0x15, 6},  // 37 '%'
    {0xf8, 8},  // 38 '&'
    {0x7fa, 11},  // 39 '''
    {0x3fa, 10},  // 40 '('
    {0x3fb, 10},  // 41 ')'
    {0xf9, 8},  // 42 '*'
    {0x7fb, 11},  // 43 '+'
    {0xfa, 8},  // 44 ','
    {0x16, 6},  // 45 '-'
    {0x17, 6},  // 46 '.'
    {0x18, 6},  // 47 '/'
    {0x0, 5},  // 48 '0'
    {0x1, 5},  // 49 '1'
    {0x2, 5},  // 50 '2'
    {0x19, 6},  // 51 '3'
    {0x1a, 6},  // 52 '4'
    {0x1b, 6},  // 53 '5'
    {0x1c, 6},  // 54 '6'
    {0x1d, 6},  // 55 '7'
    {0x1e, 6},  // 56 '8'
    {0x1f, 6},  // 57 '9'
    {0x5c, 7},  // 58 ':'
    {0xfb, 8},  // 59 ';'
    {0x7ffc, 15},  // 60 '<'
    {0x20, 6},  // 61 '='
    {0xffb, 12},  // 62 '>'
    {0x3fc, 10},  // 63 '?'
    {0x1ffa, 13},  // 64 '@'
    {0x21, 6},  // 65 'A'
    {0x5d, 7},  // 66 'B'
    {0x5e, 7},  // 67 'C'
    {0x5f, 7},  // 68 'D'
    {0x60, 7},  // 69 'E'
    {0x61, 7},  // 70 'F'
    {0x62, 7},  // 71 'G'
    {0x63, 7},  // 72 'H'
    {0x64, 7},  // 73 'I'
    {0x65, 7},  // 74 'J'
    {0x66, 7},  // 75 'K'
    {0x67, 7},  // 76 'L'
    {0x68, 7},  // 77 'M'
    {0x69, 7},  // 78 'N'
    {0x6a, 7},  // 79 'O'
    {0x6b, 7},  // 80 'P'
    {0x6c, 7},  // 81 'Q'
    {0x6d, 7},  // 82 'R'
    {0x6e, 7},  // 83 'S'
    {0x6f, 7},  // 84 'T'
    {0x70, 7},  // 85 'U'
    {0x71, 7},  // 86 'V'
    {0x72, 7},  // 87 'W'
    {0xfc, 8},  // 88 'X'
    {0x73, 7},  // 89 'Y'
    {0xfd, 8},  // 90 'Z'
    {0x1ffb, 13},  // 91 '['
    {0x7fff0, 19},  // 92 '\\'
    {0x1ffc, 13},  // 93 ']'
    {0x3ffc, 14},  // 94 '^'
    {0x22, 6},  // 95 '_'
    {0x7ffd, 15},  // 96 '`'
    {0x3, 5},  // 97 'a'
    {0x23, 6},  // 98 'b'
    {0x4, 5},  // 99 'c'
    {0x24, 6},  // 100 'd'
    {0x5, 5},  // 101 'e'
    {0x25, 6},  // 102 'f'
    {0x26, 6},  // 103 'g'
    {0x27, 6},  // 104 'h'
    {0x6, 5},  // 105 'i'
    {0x74, 7},  // 106 'j'
    {0x75, 7},  // 107 'k'
    {0x28, 6},  // 108 'l'
    {0x29, 6},  // 109 'm'
    {0x2a, 6},  // 110 'n'
    {0x7, 5},  // 111 'o'
    {0x2b, 6},  // 112 'p'
    {0x76, 7},  // 113 'q'
    {0x2c, 6},  // 114 'r'
    {0x8, 5},  // 115 's'
    {0x9, 5},  // 116 't'
    {0x2d, 6},  // 117 'u'
    {0x77, 7},  // 118 'v'
    {0x78, 7},  // 119 'w'
    {0x79, 7},  // 120 'x'
    {0x7a, 7},  // 121 'y'
    {0x7b, 7},  // 122 'z'
    {0x7ffe, 15},  // 123 '{'
    {0x7fc, 11},  // 124 '|'
    {0x3ffd, 14},  // 125 '}'
    {0x1ffd, 13},  // 126 '~'
    {0xffffffc, 28},  // 127
    {0xfffe6, 20},  // 128
    {0x3fffd2, 22},  // 129
    {0xfffe7, 20},  // 130
    {0xfffe8, 20},  // 131
    {0x3fffd3, 22},  // 132
    {0x3fffd4, 22},  // 133
    {0x3fffd5, 22},  // 134
    {0x7fffd9, 23},  // 135
    {0x3fffd6, 22},  // 136
    {0x7fffda, 23},  // 137
    {0x7fffdb, 23},  // 138
    {0x7fffdc, 23},  // 139
    {0x7fffdd, 23},  // 140
    {0x7fffde, 23},  // 141
    {0xffffeb, 24},  // 142
    {0x7fffdf, 23},  // 143
    {0xffffec, 24},  // 144
    {0xffffed, 24},  // 145
    {0x3fffd7, 22},  // 146
    {0x7fffe0, 23},  // 147
    {0xffffee, 24},  // 148
    {0x7fffe1, 23},  // 149
    {0x7fffe2, 23},  // 150
    {0x7fffe3, 23},  // 151
    {0x7fffe4, 23},  // 152
    {0x1fffdc, 21},  // 153
    {0x3fffd8, 22},  // 154
    {0x7fffe5, 23},  // 155
    {0x3fffd9, 22},  // 156
    {0x7fffe6, 23},  // 157
    {0x7fffe7, 23},  // 158
    {0xffffef, 24},  // 159
    {0x3fffda, 22},  // 160
    {0x1fffdd, 21},  // 161
    {0xfffe9, 20},  // 162
    {0x3fffdb, 22},  // 163
    {0x3fffdc, 22},  // 164
    {0x7fffe8, 23},  // 165
    {0x7fffe9, 23},  // 166
    {0x1fffde, 21},  // 167
    {0x7fffea, 23},  // 168
    {0x3fffdd, 22},  // 169
    {0x3fffde, 22},  // 170
    {0xfffff0, 24},  // 171
    {0x1fffdf, 21},  // 172
    {0x3fffdf, 22},  // 173
    {0x7fffeb, 23},  // 174
    {0x7fffec, 23},  // 175
    {0x1fffe0, 21},  // 176
    {0x1fffe1, 21},  // 177
    {0x3fffe0, 22},  // 178
    {0x1fffe2, 21},  // 179
    {0x7fffed, 23},  // 180
    {0x3fffe1, 22},  // 181
    {0x7fffee, 23},  // 182
    {0x7fffef, 23},  // 183
    {0xfffea, 20},  // 184
    {0x3fffe2, 22},  // 185
    {0x3fffe3, 22},  // 186
    {0x3fffe4, 22},  // 187
    {0x7ffff0, 23},  // 188
    {0x3fffe5, 22},  // 189
    {0x3fffe6, 22},  // 190
    {0x7ffff1, 23},  // 191
    {0x3ffffe0, 26},  // 192
    {0x3ffffe1, 26},  // 193
    {0xfffeb, 20},  // 194
    {0x7fff1, 19},  // 195
    {0x3fffe7, 22},  // 196
    {0x7ffff2, 23},  // 197
    {0x3fffe8, 22},  // 198
    {0x1ffffec, 25},  // 199
    {0x3ffffe2, 26},  // 200
    {0x3ffffe3, 26},  // 201
    {0x3ffffe4, 26},  // 202
    {0x7ffffde, 27},  // 203
    {0x7ffffdf, 27},  // 204
    {0x3ffffe5, 26},  // 205
    {0xfffff1, 24},  // 206
    {0x1ffffed, 25},  // 207
    {0x7fff2, 19},  // 208
    {0x1fffe3, 21},  // 209
    {0x3ffffe6, 26},  // 210
    {0x7ffffe0, 27},  // 211
    {0x7ffffe1, 27},  // 212
    {0x3ffffe7, 26},  // 213
    {0x7ffffe2, 27},  // 214
    {0xfffff2, 24},  // 215
    {0x1fffe4, 21},  // 216
    {0x1fffe5, 21},  // 217
    {0x3ffffe8, 26},  // 218
    {0x3ffffe9, 26},  // 219
    {0xffffffd, 28},  // 220
    {0x7ffffe3, 27},  // 221
    {0x7ffffe4, 27},  // 222
    {0x7ffffe5, 27},  // 223
    {0xfffec, 20},  // 224
    {0xfffff3, 24},  // 225
    {0xfffed, 20},  // 226
    {0x1fffe6, 21},  // 227
    {0x3fffe9, 22},  // 228
    {0x1fffe7, 21},  // 229
    {0x1fffe8, 21},  // 230
    {0x7ffff3, 23},  // 231
    {0x3fffea, 22},  // 232
    {0x3fffeb, 22},  // 233
    {0x1ffffee, 25},  // 234
    {0x1ffffef, 25},  // 235
    {0xfffff4, 24},  // 236
    {0xfffff5, 24},  // 237
    {0x3ffffea, 26},  // 238
    {0x7ffff4, 23},  // 239
    {0x3ffffeb, 26},  // 240
    {0x7ffffe6, 27},  // 241
    {0x3ffffec, 26},  // 242
    {0x3ffffed, 26},  // 243
    {0x7ffffe7, 27},  // 244
    {0x7ffffe8, 27},  // 245
    {0x7ffffe9, 27},  // 246
    {0x7ffffea, 27},  // 247
    {0x7ffffeb, 27},  // 248
    {0xffffffe, 28},  // 249
    {0x7ffffec, 27},  // 250
    {0x7ffffed, 27},  // 251
    {0x7ffffee, 27},  // 252
    {0x7ffffef, 27},  // 253
    {0x7fffff0, 27},  // 254
    {0x3ffffee, 26},  // 255
    {0x3fffffff, 30},  // 256 EOS
};

// kMaxCodeBits is the longest code (EOS); the decoder's fast loop keeps at
// least this many bits buffered so that any code can be resolved.
constexpr unsigned kMaxCodeBits = 30;

// kEosSymbol is EOS's symbol number.
constexpr unsigned kEosSymbol = 256;

// kBits holds each byte's code length, for HuffmanEncodedSize.
struct BitsTable {
  uint8_t bits[256];
};
constexpr BitsTable BuildBits() {
  BitsTable t{};
  for (int s = 0; s < 256; ++s) t.bits[s] = kCodes[s].bits;
  return t;
}
constexpr BitsTable kBits = BuildBits();

// kPeekBits is the window the primary decode table is indexed by: 2^11
// two-byte entries (4 KiB) resolve every code of up to 11 bits, which
// covers letters, digits and the usual URL and header punctuation.
constexpr unsigned kPeekBits = 11;

// PrimaryTable maps an 11-bit window to (bits << 9 | symbol) of the code the
// window starts with when that code is at most kPeekBits long, else to 0
// (the window starts a longer code: see kLong).
struct PrimaryTable {
  uint16_t entry[1u << kPeekBits];
};
constexpr PrimaryTable BuildPrimary() {
  PrimaryTable t{};
  for (unsigned s = 0; s < 257; ++s) {
    const unsigned bits = kCodes[s].bits;
    if (bits > kPeekBits) continue;
    const uint32_t first = kCodes[s].code << (kPeekBits - bits);
    const uint32_t count = 1u << (kPeekBits - bits);
    for (uint32_t i = 0; i < count; ++i) {
      t.entry[first + i] = static_cast<uint16_t>(bits << 9 | s);
    }
  }
  return t;
}
constexpr PrimaryTable kPrimary = BuildPrimary();

// kLongCount is the number of codes longer than kPeekBits.
constexpr size_t CountLong() {
  size_t n = 0;
  for (const HuffmanCode& c : kCodes) n += c.bits > kPeekBits;
  return n;
}
constexpr size_t kLongCount = CountLong();

// LongTable lists the codes longer than kPeekBits left-aligned in 32 bits,
// in ascending order. The code is prefix-free and complete, so a 32-bit
// window lies in exactly one code's interval: the last code <= the window.
struct LongTable {
  uint32_t left[kLongCount];
  uint16_t symbol[kLongCount];
};
constexpr LongTable BuildLong() {
  LongTable t{};
  size_t n = 0;
  for (unsigned s = 0; s < 257; ++s) {
    const HuffmanCode& c = kCodes[s];
    if (c.bits <= kPeekBits) continue;
    const uint32_t left = c.code << (32 - c.bits);
    size_t i = n++;
    while (i > 0 && t.left[i - 1] > left) {  // insertion sort, at compile time
      t.left[i] = t.left[i - 1];
      t.symbol[i] = t.symbol[i - 1];
      --i;
    }
    t.left[i] = left;
    t.symbol[i] = static_cast<uint16_t>(s);
  }
  return t;
}
constexpr LongTable kLong = BuildLong();

inline uint64_t LoadBigEndian64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

inline void StoreBigEndian32(uint8_t* p, uint32_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  std::memcpy(p, &v, sizeof(v));
}

// Lookup resolves the code at the top of `acc` (zero bits past the end of
// the input are harmless: see the padding check) into its length and symbol.
inline void Lookup(uint64_t acc, unsigned* bits, unsigned* symbol) {
  const uint16_t e = kPrimary.entry[acc >> (64 - kPeekBits)];
  if (e != 0) [[likely]] {
    *bits = e >> 9;
    *symbol = e & 0x1ff;
    return;
  }
  const uint32_t window = static_cast<uint32_t>(acc >> 32);
  const uint32_t* it = std::upper_bound(kLong.left, kLong.left + kLongCount, window);
  const unsigned s = kLong.symbol[it - kLong.left - 1];
  *bits = kCodes[s].bits;
  *symbol = s;
}

template <bool kWrite>
HuffmanError DecodeImpl(const uint8_t* p, const uint8_t* end, uint8_t* out,
                        size_t* decoded_size) {
  // acc holds the next input bits left-aligned; the top `n` are counted.
  // Bits below them are the input's next bits or zeros, never garbage.
  uint64_t acc = 0;
  unsigned n = 0;
  size_t count = 0;
  unsigned bits, symbol;
  // Fast loop: refill with one 8-byte load, then resolve codes while any
  // code fits in what is buffered.
  while (end - p >= 8) {
    acc |= LoadBigEndian64(p) >> n;
    p += (63 - n) >> 3;
    n |= 56;
    do {
      Lookup(acc, &bits, &symbol);
      if (symbol == kEosSymbol) [[unlikely]] return HuffmanError::kEos;
      if constexpr (kWrite) out[count] = static_cast<uint8_t>(symbol);
      ++count;
      acc <<= bits;
      n -= bits;
    } while (n >= kMaxCodeBits);
  }
  // Tail: byte-wise refill, and the padding check once the input runs out.
  for (;;) {
    while (n <= 56 && p < end) {
      acc |= static_cast<uint64_t>(*p++) << (56 - n);
      n += 8;
    }
    if (n == 0) break;
    Lookup(acc, &bits, &symbol);
    if (bits > n) {
      // What is left is not a whole code: it must be padding, i.e. at most
      // 7 bits and a prefix of EOS (all ones). No code of 7 bits or fewer is
      // all ones, so a real code is never mistaken for padding.
      if (n > 7) return HuffmanError::kBadPadding;
      if ((acc >> (64 - n)) != (1u << n) - 1) return HuffmanError::kBadPadding;
      break;
    }
    if (symbol == kEosSymbol) return HuffmanError::kEos;
    if constexpr (kWrite) out[count] = static_cast<uint8_t>(symbol);
    ++count;
    acc <<= bits;
    n -= bits;
  }
  *decoded_size = count;
  return HuffmanError::kNone;
}

}  // namespace

size_t HuffmanEncodedSize(absl::string_view text) {
  size_t bits = 0;
  for (unsigned char c : text) bits += kBits.bits[c];
  return (bits + 7) / 8;
}

size_t HuffmanEncode(absl::string_view text, uint8_t* out) {
  // acc's low `n` bits are pending output; bits above them were written.
  uint64_t acc = 0;
  unsigned n = 0;
  uint8_t* o = out;
  for (unsigned char c : text) {
    const HuffmanCode& code = kCodes[c];
    acc = (acc << code.bits) | code.code;
    n += code.bits;
    if (n >= 32) {
      n -= 32;
      StoreBigEndian32(o, static_cast<uint32_t>(acc >> n));
      o += 4;
    }
  }
  while (n >= 8) {
    n -= 8;
    *o++ = static_cast<uint8_t>(acc >> n);
  }
  if (n > 0) *o++ = static_cast<uint8_t>((acc << (8 - n)) | (0xffu >> n));
  return static_cast<size_t>(o - out);
}

HuffmanError HuffmanDecode(absl::Span<const uint8_t> in, uint8_t* out,
                           size_t* decoded_size) {
  const uint8_t* p = in.data();
  const uint8_t* end = p + in.size();
  if (out == nullptr) return DecodeImpl<false>(p, end, nullptr, decoded_size);
  return DecodeImpl<true>(p, end, out, decoded_size);
}

}  // namespace alts::hpack
