"""Answers for the exercise `gae` (notebook 07): see README.md in this folder.

values[t] = V(s_t); the value of the observation after step t is values[t+1] (last step: last_value).
terminated: no bootstrap in δ_t; truncated: bootstrap γ·V(s_final); no advantage flows back across either."""

_DELTAS = '''    term = terminated.to(rewards.dtype)
    done = (terminated | truncated).to(rewards.dtype)
    next_values = torch.cat([values[1:], last_value.unsqueeze(0).to(values.dtype)])
    deltas = rewards + gamma * (1 - term) * next_values - values
'''
_HEAD = "def gae(rewards, values, terminated, truncated, last_value, gamma=0.99, gae_lambda=0.95):\n"
_BACKWARD = '''    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * gae_lambda * (1 - done[t]) * running
        advantages[t] = running
'''

WRONG = {  # each must FAIL
    "advantage flows back across a truncation (only terminated stops the recursion)": _HEAD + '''    term = terminated.to(rewards.dtype)
    done = term
    next_values = torch.cat([values[1:], last_value.unsqueeze(0).to(values.dtype)])
    deltas = rewards + gamma * (1 - term) * next_values - values
''' + _BACKWARD + '''    return advantages, advantages + values
''',
    "truncation treated as termination: no bootstrap at a time limit": _HEAD + '''    done = (terminated | truncated).to(rewards.dtype)
    next_values = torch.cat([values[1:], last_value.unsqueeze(0).to(values.dtype)])
    deltas = rewards + gamma * (1 - done) * next_values - values
''' + _BACKWARD + '''    return advantages, advantages + values
''',
    "bootstraps at termination: δ_t always adds γ·V(s_{t+1})": _HEAD + '''    done = (terminated | truncated).to(rewards.dtype)
    next_values = torch.cat([values[1:], last_value.unsqueeze(0).to(values.dtype)])
    deltas = rewards + gamma * next_values - values
''' + _BACKWARD + '''    return advantages, advantages + values
''',
    "no shift: uses V(s_t) as the next value": _HEAD + '''    term = terminated.to(rewards.dtype)
    done = (terminated | truncated).to(rewards.dtype)
    deltas = rewards + gamma * (1 - term) * values - values
''' + _BACKWARD + '''    return advantages, advantages + values
''',
    "forgets λ in the recursion (γ only)": _HEAD + _DELTAS + '''    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * (1 - done[t]) * running
        advantages[t] = running
    return advantages, advantages + values
''',
    "returns = advantages + next values (the wrong V)": _HEAD + _DELTAS + _BACKWARD + '''    return advantages, advantages + next_values
''',
    "returns the advantages as the value target (forgets + V)": _HEAD + _DELTAS + _BACKWARD + '''    return advantages, advantages
''',
    "returns only the advantages, not the pair": _HEAD + _DELTAS + _BACKWARD + '''    return advantages
''',
    "forward in time instead of backwards": _HEAD + _DELTAS + '''    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0]):
        running = deltas[t] + gamma * gae_lambda * running
        advantages[t] = running
        running = running * (1 - done[t])
    return advantages, advantages + values
''',
    "masks the recursion with the previous step's done (off by one)": _HEAD + _DELTAS + '''    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    N = rewards.shape[0]
    for t in reversed(range(N)):
        running = deltas[t] + gamma * gae_lambda * (1 - (done[t - 1] if t > 0 else 0)) * running
        advantages[t] = running
    return advantages, advantages + values
''',
    "1 - terminated on a bool tensor (TypeError)": _HEAD + '''    next_values = torch.cat([values[1:], last_value.unsqueeze(0)])
    deltas = rewards + gamma * (1 - terminated) * next_values - values
    done = terminated | truncated
''' + _BACKWARD + '''    return advantages, advantages + values
''',
    "concatenates last_value without unsqueeze (0-d for one environment)": _HEAD + '''    term = terminated.to(rewards.dtype)
    done = (terminated | truncated).to(rewards.dtype)
    next_values = torch.cat([values[1:], last_value])
    deltas = rewards + gamma * (1 - term) * next_values - values
''' + _BACKWARD + '''    return advantages, advantages + values
''',
    "allocates with torch.zeros(rewards.shape): float32 advantages for float64 input": _HEAD + _DELTAS + '''    advantages = torch.zeros(rewards.shape)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * gae_lambda * (1 - done[t]) * running
        advantages[t] = running
    return advantages, advantages + values
''',
    "done = terminated + truncated, not clamped: a step that is both gives 1 - done = -1": _HEAD + '''    term = terminated.to(rewards.dtype)
    done = terminated.to(rewards.dtype) + truncated.to(rewards.dtype)
    next_values = torch.cat([values[1:], last_value.unsqueeze(0).to(values.dtype)])
    deltas = rewards + gamma * (1 - term) * next_values - values
''' + _BACKWARD + '''    return advantages, advantages + values
''',
    "in place: turns the caller's rewards into the TD errors": _HEAD + '''    term = terminated.to(rewards.dtype)
    done = (terminated | truncated).to(rewards.dtype)
    next_values = torch.cat([values[1:], last_value.unsqueeze(0).to(values.dtype)])
    rewards += gamma * (1 - term) * next_values - values          # rewards now hold δ_t
    deltas = rewards
''' + _BACKWARD + '''    return advantages, advantages + values
''',
    "precision: computes in float32 inside the float64 case, then casts back": _HEAD + '''    r, v = rewards.float(), values.float()
    term = terminated.float()
    done = (terminated | truncated).float()
    next_values = torch.cat([v[1:], last_value.float().unsqueeze(0)])
    deltas = r + gamma * (1 - term) * next_values - v
    advantages = torch.zeros_like(r)
    running = torch.zeros_like(r[0])
    for t in reversed(range(r.shape[0])):
        running = deltas[t] + gamma * gae_lambda * (1 - done[t]) * running
        advantages[t] = running
    return advantages.to(rewards.dtype), (advantages + v).to(rewards.dtype)
''',
}

VALID = {  # each must PASS
    "δ_t computed inside the loop, the next value carried along": '''def gae(rewards, values, terminated, truncated, last_value, gamma=0.99, gae_lambda=0.95):
    N = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    next_value = last_value.to(rewards.dtype)
    next_adv = torch.zeros_like(rewards[0])
    for t in range(N - 1, -1, -1):
        term = terminated[t].to(rewards.dtype)
        cont = 1 - (terminated[t] | truncated[t]).to(rewards.dtype)
        delta = rewards[t] + gamma * (1 - term) * next_value - values[t]
        next_adv = delta + gamma * gae_lambda * cont * next_adv
        adv[t] = next_adv
        next_value = values[t]
    return adv, adv + values
''',
    "the λ-return recursion first, advantages = returns − V": '''def gae(rewards, values, terminated, truncated, last_value, gamma=0.99, gae_lambda=0.95):
    # R_t = r_t + γ[(1 − term_t) V'_t + λ (1 − done_t)(R_{t+1} − V'_t)],  V'_t = V(s_{t+1})
    next_values = torch.cat([values[1:], last_value.to(values.dtype)[None]])
    keep_v = (~terminated).to(rewards.dtype)
    keep_r = (~(terminated | truncated)).to(rewards.dtype)
    R = torch.zeros_like(rewards)
    R_next = next_values[-1].clone()                           # R_N = V(s_N): Â_N = 0
    for t in reversed(range(rewards.shape[0])):
        R_next = rewards[t] + gamma * (keep_v[t] * next_values[t] + gae_lambda * keep_r[t] * (R_next - next_values[t]))
        R[t] = R_next
    return R - values, R
''',
    "the sum written out: Â_t = Σ_l (γλ)^l δ_{t+l} until the episode ends, with a print": '''def gae(rewards, values, terminated, truncated, last_value, gamma=0.99, gae_lambda=0.95):
    N = rewards.shape[0]
    next_values = torch.cat([values[1:], last_value.to(values.dtype).unsqueeze(0)])
    deltas = rewards + gamma * torch.where(terminated, torch.zeros_like(next_values), next_values) - values
    cont = (~(terminated | truncated)).to(rewards.dtype)
    adv = torch.zeros_like(rewards)
    for t in range(N):
        w = torch.ones_like(rewards[0])
        for s in range(t, N):
            adv[t] = adv[t] + w * deltas[s]
            w = w * gamma * gae_lambda * cont[s]
    print(f"GAE over {N} steps, γ = {gamma}, λ = {gae_lambda}")
    return adv, adv + values
''',
    "a list, reversed and stacked; returns a list [advantages, returns]": '''def gae(rewards, values, terminated, truncated, last_value, gamma=0.99, gae_lambda=0.95):
    dt = rewards.dtype
    nv = list(values[1:]) + [last_value.to(dt)]
    out, a = [], torch.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * nv[t] * (~terminated[t]).to(dt) - values[t]
        a = delta + gamma * gae_lambda * a * (~(terminated[t] | truncated[t])).to(dt)
        out.append(a)
    adv = torch.stack(out[::-1])
    return [adv, adv + values]
''',
}
