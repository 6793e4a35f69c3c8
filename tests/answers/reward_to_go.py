"""Answers for the exercise `reward_to_go` (notebook 05): see README.md in this folder."""

WRONG = {  # each must FAIL
    "ignores dones: discounts across episode boundaries": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns
''',
    "resets after the update: the done step keeps the next episode's return": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    done = dones.to(rewards.dtype)
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running
        returns[t] = running
        running = running * (1 - done[t])
    return returns
''',
    "off by one: masks with the done flag of the next step": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    done = dones.to(rewards.dtype)
    N = rewards.shape[0]
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    for t in reversed(range(N)):
        nd = done[t + 1] if t + 1 < N else torch.zeros_like(done[0])
        running = rewards[t] + gamma * (1 - nd) * running
        returns[t] = running
    return returns
''',
    "forward in time instead of backwards": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    done = dones.to(rewards.dtype)
    running = torch.zeros_like(rewards[0])
    returns = torch.zeros_like(rewards)
    for t in range(rewards.shape[0]):
        running = rewards[t] + gamma * running
        returns[t] = running
        running = running * (1 - done[t])
    return returns
''',
    "never bootstraps: ignores last_value": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    done = dones.to(rewards.dtype)
    running = torch.zeros_like(rewards[0])
    returns = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1 - done[t]) * running
        returns[t] = running
    return returns
''',
    "bootstraps at termination: adds gamma^(N-t) last_value to every step, done or not": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    done = dones.to(rewards.dtype)
    N = rewards.shape[0]
    running = torch.zeros_like(rewards[0])
    returns = torch.zeros_like(rewards)
    for t in reversed(range(N)):
        running = rewards[t] + gamma * (1 - done[t]) * running
        returns[t] = running
    if last_value is not None:
        for t in range(N):
            returns[t] = returns[t] + gamma ** (N - t) * last_value
    return returns
''',
    "discounts the current reward too: G_t = gamma (r_t + G_{t+1})": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    done = dones.to(rewards.dtype)
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        running = gamma * (rewards[t] + (1 - done[t]) * running)
        returns[t] = running
    return returns
''',
    "flattens (N, B): runs the recursion across environments": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    r, d = rewards.reshape(-1), dones.reshape(-1).to(rewards.dtype)
    running = torch.zeros((), dtype=rewards.dtype) if last_value is None else last_value.reshape(-1)[-1].to(rewards.dtype)
    returns = torch.zeros_like(r)
    for t in reversed(range(r.shape[0])):
        running = r[t] + gamma * (1 - d[t]) * running
        returns[t] = running
    return returns.reshape(rewards.shape)
''',
    "1 - dones on a bool tensor (TypeError)": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value
    returns = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1 - dones[t]) * running
        returns[t] = running
    return returns
''',
    "~dones: fine for bool, fails for float 0/1 dones": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value
    returns = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (~dones[t]) * running
        returns[t] = running
    return returns
''',
    "`if last_value:` on a tensor (ambiguous for shape (B,))": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    done = dones.to(rewards.dtype)
    running = last_value.to(rewards.dtype) if last_value else torch.zeros_like(rewards[0])
    returns = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1 - done[t]) * running
        returns[t] = running
    return returns
''',
    "allocates with torch.zeros(rewards.shape): float32 output for float64 rewards": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    done = dones.to(rewards.dtype)
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards.dtype)
    returns = torch.zeros(rewards.shape)
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1 - done[t]) * running
        returns[t] = running
    return returns
''',
    "in place: accumulates the returns into the caller's rewards": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    done = dones.to(rewards.dtype)
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards.dtype)
    for t in reversed(range(rewards.shape[0])):
        rewards[t] += gamma * (1 - done[t]) * running
        running = rewards[t]
    return rewards
''',
    "precision: computes in float32 inside the float64 case, then casts back": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    r = rewards.float()
    done = dones.float()
    running = torch.zeros_like(r[0]) if last_value is None else last_value.float()
    returns = torch.zeros_like(r)
    for t in reversed(range(r.shape[0])):
        running = r[t] + gamma * (1 - done[t]) * running
        returns[t] = running
    return returns.to(rewards.dtype)
''',
}

VALID = {  # each must PASS
    "torch.where on the done mask, a list reversed and stacked": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    done = dones.bool()
    g = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards.dtype)
    out = []
    for r, d in zip(rewards.flip(0), done.flip(0)):
        g = torch.where(d, r, r + gamma * g)
        out.append(g)
    return torch.stack(out[::-1])
''',
    "last_value appended as one more reward after a forced episode end": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    tail = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards.dtype)
    r = torch.cat([rewards, tail.unsqueeze(0)])                                 # G_N = last_value
    d = torch.cat([dones.to(rewards.dtype), torch.ones_like(tail).unsqueeze(0)])
    G = torch.zeros_like(r)
    G[-1] = r[-1]
    for t in range(r.shape[0] - 2, -1, -1):
        G[t] = r[t] + gamma * (1 - d[t]) * G[t + 1]
    return G[:-1]
''',
    "the sum written out: G_t = sum_s gamma^(s-t) r_s until the episode ends, with a print": '''def reward_to_go(rewards, dones, gamma, last_value=None):
    N = rewards.shape[0]
    alive_after = 1 - dones.to(rewards.dtype)                 # 1 while the episode goes on after step s
    G = torch.zeros_like(rewards)
    for t in range(N):
        coef = torch.ones_like(rewards[0])                      # gamma^(s-t), 0 once an episode ended
        for s in range(t, N):
            G[t] = G[t] + coef * rewards[s]
            coef = coef * gamma * alive_after[s]
        if last_value is not None:
            G[t] = G[t] + coef * last_value.to(rewards.dtype)
    print("reward-to-go of", N, "steps")
    return G
''',
}
