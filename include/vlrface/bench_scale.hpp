// vlrface/bench_scale.hpp — synthetic people for the scale benchmark (`vlrface bench
// --gallery-scale N`): random unit templates from a fixed seed, so that every run (and every
// machine) matches against the same gallery.
//
// Usage:
//   vlrface::SyntheticPeople people(100000, 512, /*seed=*/20240501);
//   vlrface::Matcher m;  m.reserve(people.size());
//   people.for_each([&](const std::string& name, std::span<const float> t) { m.add(name, t); });
//   std::vector<float> probe = people.probe(42, 0.5f, rng);   // near synthetic person 42
// Templates are generated one at a time from a per-person seed: person i is the same whatever the
// order or the count asked for, and 100,000 of them never exist twice in memory.
// Thread safety: const methods may run on many threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace vlrface {

class SyntheticPeople {
 public:
  // Throws Error("bench", ...) for a count < 1 or a dim < 1.
  SyntheticPeople(std::size_t count, int dim, std::uint32_t seed);

  std::size_t size() const { return count_; }
  int dim() const { return dim_; }
  // "syn0000042": short enough to stay inside std::string's own buffer (no heap block per
  // name), so the matcher's memory is the templates' plus a fixed 32 bytes a person.
  static std::string name(std::size_t i);
  // Person i's unit-length template (Gaussian components, normalised: uniform on the sphere).
  std::vector<float> template_of(std::size_t i) const;
  void for_each(const std::function<void(const std::string&, std::span<const float>)>& f) const;
  // A probe near person i: its template plus Gaussian noise of this norm (relative to 1), unit
  // length again. At noise 0.5 in 512-d the cosine to person i is about 0.89, to anyone else
  // about 0 +- 0.045, so the nearest person is i.
  std::vector<float> probe(std::size_t i, float noise, std::mt19937& rng) const;

 private:
  std::size_t count_;
  int dim_;
  std::uint32_t seed_;
};

}  // namespace vlrface
