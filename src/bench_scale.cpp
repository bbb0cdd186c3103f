#include "vlrface/bench_scale.hpp"

#include <cmath>
#include <cstdio>

#include "vlrface/error.hpp"

namespace vlrface {
namespace {

void normalise(std::vector<float>& v) {
  double n = 0;
  for (float x : v) n += double(x) * x;
  n = std::sqrt(n);
  if (n > 0) {
    for (float& x : v) x = static_cast<float>(x / n);
  }
}

}  // namespace

SyntheticPeople::SyntheticPeople(std::size_t count, int dim, std::uint32_t seed)
    : count_(count), dim_(dim), seed_(seed) {
  if (count < 1) throw Error("bench", "the synthetic gallery needs at least 1 person");
  if (dim < 1)
    throw Error("bench", "the template length must be at least 1, not " + std::to_string(dim));
}

std::string SyntheticPeople::name(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "syn%07zu", i);
  return buf;
}

std::vector<float> SyntheticPeople::template_of(std::size_t i) const {
  // One generator per person, seeded from (seed, i): person i does not depend on who came before.
  std::seed_seq seq{seed_, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i >> 32)};
  std::mt19937 rng(seq);
  std::normal_distribution<float> g(0.f, 1.f);
  std::vector<float> v(static_cast<std::size_t>(dim_));
  for (float& x : v) x = g(rng);
  normalise(v);
  return v;
}

void SyntheticPeople::for_each(
    const std::function<void(const std::string&, std::span<const float>)>& f) const {
  for (std::size_t i = 0; i < count_; ++i) f(name(i), template_of(i));
}

std::vector<float> SyntheticPeople::probe(std::size_t i, float noise, std::mt19937& rng) const {
  std::vector<float> v = template_of(i);
  std::normal_distribution<float> g(0.f, noise / std::sqrt(static_cast<float>(dim_)));
  for (float& x : v) x += g(rng);
  normalise(v);
  return v;
}

}  // namespace vlrface
