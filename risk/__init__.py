"""Risk: pure core that sizes orders and refuses the unsafe ones, saying why.

limits.py (RiskLimits), sizing.py (2 % risk x confidence / stop, 5 % cap), var.py (VaR/ES),
state.py (ACTIVE/REDUCING/HALTED breaker), gate.py (RiskGate.check). No I/O, no clocks.
"""
