#include "core/tensor.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace strata {
namespace {

// A [2, 3, 4] f32 tensor holding 0, 1, 2, ... in row-major order.
Tensor iota_tensor() {
  Tensor t = Tensor::empty({2, 3, 4}, DType::F32);
  for (int i = 0; i < 24; ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

// Element (i, j, k) of a rank-3 f32 view, read through its strides.
float at(const Tensor& t, int64_t i, int64_t j, int64_t k) {
  return t.data<float>()[i * t.stride(0) + j * t.stride(1) + k * t.stride(2)];
}

TEST(Tensor, EmptyIsDenseAndZeroed) {
  Tensor t = Tensor::empty({3, 5}, DType::F16);
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.ndim(), 2);
  EXPECT_EQ(t.numel(), 15);
  EXPECT_EQ(t.nbytes(), 30u);
  EXPECT_EQ(t.stride(0), 5);
  EXPECT_EQ(t.stride(-1), 1);
  EXPECT_EQ(t.size(-2), 3);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(t.data<uint16_t>()[i], 0);
  EXPECT_EQ(t.describe(), "f16[3, 5]");
  EXPECT_FALSE(Tensor().defined());
}

TEST(Tensor, RejectsBadShapes) {
  EXPECT_THROW(Tensor::empty({}, DType::F32), Error);
  EXPECT_THROW(Tensor::empty({1, 2, 3, 4, 5}, DType::F32), Error);
  EXPECT_THROW(Tensor::empty({-1, 2}, DType::F32), Error);
  EXPECT_THROW(Tensor::empty({4, 48}, DType::Q8_0), Error);  // 48 is not whole blocks of 32
}

TEST(Tensor, SliceSharesStorage) {
  Tensor t = iota_tensor();
  Tensor s = t.slice(1, 1, 3);
  EXPECT_EQ(s.shape(), (Tensor::Shape{2, 2, 4}));
  EXPECT_EQ(s.storage(), t.storage());
  EXPECT_FALSE(s.is_contiguous());
  EXPECT_EQ(at(s, 1, 0, 2), 12 + 4 + 2);
  Tensor last = t.slice(-1, 1, 3);
  EXPECT_EQ(at(last, 1, 2, 1), 12 + 8 + 2);
  s.data<float>()[0] = 100.f;  // writes through to the original
  EXPECT_EQ(t.data<float>()[4], 100.f);
  EXPECT_THROW(t.slice(1, 2, 4), Error);
  EXPECT_THROW(t.slice(1, 2, 1), Error);
  EXPECT_THROW(t.slice(3, 0, 1), Error);
  EXPECT_EQ(t.slice(0, 1, 1).numel(), 0);
}

TEST(Tensor, SelectDropsDimension) {
  Tensor t = iota_tensor();
  Tensor s = t.select(1, 2);
  EXPECT_EQ(s.shape(), (Tensor::Shape{2, 4}));
  EXPECT_EQ(s.data<float>()[1 * s.stride(0) + 3], 12 + 8 + 3);
  Tensor row = t.select(0, 1).select(0, 1);
  EXPECT_EQ(row.shape(), (Tensor::Shape{4}));
  EXPECT_TRUE(row.is_contiguous());
  EXPECT_EQ(row.data<float>()[0], 16.f);
  EXPECT_THROW(row.select(0, 0), Error);
  EXPECT_THROW(t.select(0, 2), Error);
}

TEST(Tensor, TransposeAndContiguous) {
  Tensor t = iota_tensor();
  Tensor tr = t.transpose(0, 2);
  EXPECT_EQ(tr.shape(), (Tensor::Shape{4, 3, 2}));
  EXPECT_FALSE(tr.is_contiguous());
  EXPECT_EQ(at(tr, 3, 1, 1), at(t, 1, 1, 3));
  Tensor dense = tr.contiguous();
  EXPECT_TRUE(dense.is_contiguous());
  EXPECT_NE(dense.storage(), t.storage());
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 2; ++k) EXPECT_EQ(at(dense, i, j, k), at(t, k, j, i));
  // An already dense tensor is returned as is.
  EXPECT_EQ(t.contiguous().storage(), t.storage());
  // A slice's contiguous copy holds just the slice.
  Tensor sliced = t.slice(2, 1, 3).contiguous();
  EXPECT_EQ(sliced.shape(), (Tensor::Shape{2, 3, 2}));
  EXPECT_EQ(sliced.data<float>()[5], at(t, 0, 2, 2));
}

TEST(Tensor, Reshape) {
  Tensor t = iota_tensor();
  Tensor r = t.reshape({6, 4});
  EXPECT_EQ(r.storage(), t.storage());
  EXPECT_EQ(r.data<float>()[5 * 4 + 3], 23.f);
  // A contiguous slice along the first dimension keeps its offset.
  Tensor second = t.slice(0, 1, 2).reshape({12});
  EXPECT_EQ(second.data<float>()[0], 12.f);
  EXPECT_THROW(t.reshape({5, 5}), Error);
  EXPECT_THROW(t.transpose(0, 1).reshape({24}), Error);
}

TEST(Tensor, ViewOfChecksBounds) {
  auto storage = Storage::allocate_host(100);
  Tensor v = Tensor::view_of(storage, 20, DType::F32, {20});
  EXPECT_EQ(v.byte_offset(), 20u);
  EXPECT_THROW(Tensor::view_of(storage, 24, DType::F32, {20}), Error);
}

TEST(Tensor, QuantizedBlockRules) {
  // Q8_0: 32 elements in 34 bytes.
  Tensor q = Tensor::empty({4, 64}, DType::Q8_0);
  EXPECT_EQ(q.nbytes(), 4u * 2 * 34);
  Tensor row = q.select(0, 2);
  EXPECT_EQ(row.byte_offset(), 2u * 2 * 34);
  Tensor rows = q.slice(0, 1, 3);
  EXPECT_EQ(rows.byte_offset(), 68u);
  EXPECT_TRUE(rows.is_contiguous());
  Tensor block = q.slice(1, 32, 64);
  EXPECT_EQ(block.byte_offset(), 34u);
  EXPECT_THROW(q.slice(1, 16, 48), Error);  // not on block boundaries
  EXPECT_THROW(q.slice(1, 0, 48), Error);
  EXPECT_THROW(q.transpose(0, 1), Error);
  EXPECT_THROW(q.reshape({4, 2, 32}).reshape({8, 16}), Error);
  EXPECT_EQ(q.reshape({8, 32}).nbytes(), q.nbytes());
}

TEST(Tensor, QuantizedContiguousCopiesWholeRows) {
  Tensor q = Tensor::empty({3, 4, 32}, DType::Q4_0);  // 18 bytes per row
  for (size_t i = 0; i < q.nbytes(); ++i) q.data<uint8_t>()[i] = static_cast<uint8_t>(i * 7);
  Tensor tr = q.transpose(0, 1);  // [4, 3, 32]
  EXPECT_FALSE(tr.is_contiguous());
  Tensor dense = tr.contiguous();
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int b = 0; b < 18; ++b)
        ASSERT_EQ(dense.data<uint8_t>()[(i * 3 + j) * 18 + b], q.data<uint8_t>()[(j * 4 + i) * 18 + b]);
}

}  // namespace
}  // namespace strata
