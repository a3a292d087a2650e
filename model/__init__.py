"""The project's shared vocabulary and arithmetic: pieces every layer may import and that
import nothing of ours."""
