// Copyright 2026 The unidist-cpp Authors.
//
// A parameter server: an actor holds a model's weights, tasks compute gradients on
// shards of the data in parallel, and the actor applies them in order.
//
// The model is a line y = w0 + w1 * x fitted by gradient descent to noisy points around
// y = 2 + 3x. Each round, every shard's gradient task receives the current weights as an
// ObjectRef straight from the actor (no round trip through the driver), and the actor's
// Apply calls wait for those gradients.
//
//   ./bazelw run //examples:parameter_server

#include <cmath>
#include <cstdio>
#include <random>
#include <utility>
#include <vector>

#include "unidist/unidist.h"

namespace parameter_server {

using Weights = std::pair<double, double>;  // intercept, slope
using Points = std::vector<std::pair<double, double>>;

class Server {
 public:
  explicit Server(double learning_rate) : learning_rate_(learning_rate) {}
  Weights Get() const { return weights_; }
  // Applies one shard's gradient and returns the new weights.
  Weights Apply(Weights gradient) {
    weights_.first -= learning_rate_ * gradient.first;
    weights_.second -= learning_rate_ * gradient.second;
    return weights_;
  }

 private:
  double learning_rate_;
  Weights weights_{0.0, 0.0};
};
UNIDIST_ACTOR(Server, double);
UNIDIST_REMOTE(&Server::Get, &Server::Apply);

// The mean-squared-error gradient of the line `weights` over `shard`.
Weights Gradient(Weights weights, Points shard) {
  Weights gradient{0.0, 0.0};
  for (const auto& [x, y] : shard) {
    const double error = weights.first + weights.second * x - y;
    gradient.first += 2 * error / shard.size();
    gradient.second += 2 * error * x / shard.size();
  }
  return gradient;
}

}  // namespace parameter_server

UNIDIST_REMOTE(parameter_server::Gradient);

int main() {
  using namespace parameter_server;
  if (absl::Status status = unidist::Init(); !status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  // Four shards of noisy points around y = 2 + 3x, stored once.
  std::mt19937 random(7);
  std::normal_distribution<double> noise(0.0, 0.1);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<unidist::ObjectRef<Points>> shards;
  for (int s = 0; s < 4; ++s) {
    Points points;
    for (int i = 0; i < 2000; ++i) {
      const double x = unit(random);
      points.emplace_back(x, 2 + 3 * x + noise(random));
    }
    shards.push_back(unidist::Put(std::move(points)));
  }

  unidist::Actor<Server> server = unidist::CreateActor<Server>(0.1);
  unidist::ObjectRef<Weights> weights = server.Submit(&Server::Get);
  for (int round = 0; round < 150; ++round) {
    std::vector<unidist::ObjectRef<Weights>> gradients;
    for (const auto& shard : shards) {
      gradients.push_back(unidist::Submit(Gradient, weights, shard));
    }
    for (const auto& gradient : gradients) weights = server.Submit(&Server::Apply, gradient);
  }
  absl::StatusOr<Weights> fitted = unidist::Get(weights);
  if (!fitted.ok()) {
    std::fprintf(stderr, "%s\n", fitted.status().ToString().c_str());
    return 1;
  }
  std::printf("fitted y = %.3f + %.3f x (true: y = 2 + 3 x)\n", fitted->first, fitted->second);
  if (absl::Status status = unidist::Shutdown(); !status.ok()) {
    std::fprintf(stderr, "Shutdown failed: %s\n", status.ToString().c_str());
    return 1;
  }
  const bool close = std::abs(fitted->first - 2) < 0.1 && std::abs(fitted->second - 3) < 0.1;
  return close ? 0 : 1;
}
