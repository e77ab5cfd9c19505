"""The final-answer precedence rule and the clean-up before grading (rewards/answer.py)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.answer import MAX_ANSWER_CHARS, clean_answer, final_answer, last_answer_block, malformed_reason

THINK_17 = "<think>First pass gives \\boxed{17}, but I dropped a factor; redoing it gives 42.</think>"


@pytest.mark.parametrize(
    "text, expected",
    [
        # issue 14, section 1: a \boxed{} in the reasoning does not beat the answer block (and the mirror case)
        (THINK_17 + "<answer>42</answer>", "42"),
        ("<think>First pass gives \\boxed{42}, but I dropped a factor; it is 17.</think><answer>17</answer>", "17"),
        # the last \boxed{} inside the last closed block, else the block's text
        ("<answer>So the total is \\boxed{12}, i.e. \\boxed{13}.</answer>", "13"),
        ("<answer>\\boxed{1}</answer> later text \\boxed{2}", "1"),
        ("<answer>5</answer><answer>6</answer>", "6"),
        ("<answer>5</answer><answer>\\boxed{7} and 8</answer>", "7"),
        # an unclosed <answer> is no block: the last closed one, else the last \boxed{} of the text
        ("<answer>5</answer> then <answer>6", "5"),
        ("\\boxed{9} <answer>6", "9"),
        ("<answer>6", None),
        ("</answer> \\boxed{4}", "4"),  # a closing tag without an opening one is no block either
        # without any block: the last \boxed{} / \fbox{}
        ("so \\boxed{3} no wait \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\{1, 2\\}} and \\fbox{x^{2}}", "x^{2}"),
        # nothing, or nothing usable
        ("no answer at all", None),
        ("\\boxed{}", None),
        ("<answer>  </answer>", None),
        ("\\boxed{unbalanced", None),
        ("\\boxed{" + "1" * 600 + "}", None),
        ("<answer>" + "1" * 600 + "</answer>", None),
        ("<answer>" + "x" * 2000 + "\\boxed{5}</answer>", "5"),  # a long block with a box: the box
    ],
)
def test_final_answer_precedence(text, expected):
    assert final_answer(text) == expected


def test_last_answer_block():
    assert last_answer_block("<answer>a</answer><answer> b </answer>") == " b "
    assert last_answer_block("<answer>a") is None
    assert last_answer_block("a</answer>") is None
    assert last_answer_block("") is None


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        # markdown emphasis and code
        ("**73**", "73"),
        ("__73__", "73"),
        ("*73*", "73"),
        ("_73_", "73"),
        ("`73`", "73"),
        ("```\n73\n```", "73"),
        ("**Final Answer:** **73**", "73"),
        ("**Final Answer**: 73", "73"),
        # emphasis marks that are not emphasis stay
        ("2**10", "2**10"),
        ("x**2 + y**2", "x**2 + y**2"),
        ("a_1 + a_2", "a_1 + a_2"),
        ("2*3*4", "2*3*4"),
        # lead-in phrases, with the period that ends the sentence
        ("Answer: 42", "42"),
        ("Final answer: 42", "42"),
        ("The answer is 42.", "42"),
        ("The final answer is 42.", "42"),
        ("So the answer is 42", "42"),
        ("Therefore, the answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("### Final Answer\n42", "42"),
        ("Final Answer: The final answer is $28 \\%$. I hope it is correct.", "28 \\%"),
        ("The answer is 4.5", "4.5"),
        # inline-math delimiters of every common form
        ("$42$", "42"),
        ("$$42$$", "42"),
        ("\\(42\\)", "42"),
        ("\\[42\\]", "42"),
        ("\\[ \\frac{3}{4} \\]", "\\frac{3}{4}"),
        ("\\boxed{42}", "42"),
        ("$3$ or $5$", "$3$ or $5$"),  # two math spans: not one wrapped answer
        # thousands separators: a 1-3 digit head (not 0) and groups of exactly three digits, one kind each
        ("1,234", "1234"),
        ("1{,}234", "1234"),
        ("12 000 023", "12000023"),
        ("1\\,234", "1234"),
        ("1\u2009234", "1234"),
        ("1\u202f234", "1234"),
        ("11,\\! 111,\\! 111,\\! 100", "11111111100"),
        ("-1,234.5", "-1234.5"),
        ("\\$1,234", "1234"),
        ("1,234,567", "1234567"),
        # ... and what is not a grouped number: lists
        ("1,2", "1, 2"),
        ("3, 5", "3, 5"),
        ("0,111", "0, 111"),
        ("32, 349", "32, 349"),
        ("1,2345", "1, 2345"),
        ("1234,567", "1234, 567"),
        ("1,234 567", "1, 234 567"),  # mixed separators
        ("(1,234)", "(1, 234)"),  # inside brackets: a pair
        ("\\{1,234\\}", "\\{1, 234\\}"),
        # unicode signs, roman e, \sqrt(x)
        ("\u22125", "-5"),
        ("3\u00b74", "3 \\cdot 4"),
        ("2\u221a2", "2\\sqrt2"),
        ("-\\mathrm{e}", "-e"),
        ("\\frac{1}{\\text{e}}", "\\frac{1}{e}"),
        ("4\\sqrt(2)", "4\\sqrt{2}"),
        ("\\sqrt(x+(1))", "\\sqrt{x+(1)}"),
        ("2\\sqrt[3](2)", "2\\sqrt[3]{2}"),
        # content is never touched: hedges, lists, words
        ("3 \\text{ or } 5", "3 \\text{ or } 5"),
        ("The answer is 42 or 43.", "42 or 43"),
        ("The answer is not 42.", "not 42"),
        ("forty-two", "forty-two"),
    ],
)
def test_clean_answer(raw, cleaned):
    assert clean_answer(raw) == cleaned


@pytest.mark.parametrize(
    "answer, reason",
    [
        ("\\frac(1)(2)", "frac_parens"),
        ("\\dfrac(3)(4)", "frac_parens"),
        ("\\sqrt((1+2)", "sqrt_parens"),
        ("4\\sqrt(2", "sqrt_parens"),
        ("4 \\\\ 5", "line_break"),
        ("4 \\cdot", "dangling_operator"),
        ("x^2 +", "dangling_operator"),
        ("3\\sqrt", "dangling_operator"),
        ("\\frac{1}{2", "unbalanced"),
        ("1}", "unbalanced"),
        ("4 2", "spaced_numbers"),
        ("40 2", "spaced_numbers"),
        ("1.5 -2", "spaced_numbers"),
        ("12 000", None),  # a thousands grouping, joined by the clean-up
        ("2 \\frac{1}{2}", None),  # a mixed number is LaTeX, read by math-verify as 2 + 1/2
        ("4\\sqrt{2}", None),
        ("\\begin{pmatrix}1 \\\\ 2\\end{pmatrix}", None),
        ("[0, 1)", None),
        ("-5", None),
    ],
)
def test_malformed_reason(answer, reason):
    assert malformed_reason(clean_answer(answer)) == reason


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600) | st.text(alphabet="$\\{}()[]*_`,. 0123456789abcoqrstx^-+", max_size=600))
def test_clean_up_never_raises_and_stays_bounded(text):
    cleaned = clean_answer(text)
    assert isinstance(cleaned, str) and len(cleaned) <= 2 * (MAX_ANSWER_CHARS + 64)
    assert isinstance(final_answer(text), (str, type(None)))
    malformed_reason(cleaned)


@settings(max_examples=200, deadline=None)
@given(
    wrong=st.integers(min_value=0, max_value=10**6),
    wrapper=st.sampled_from(["{}", "**{}**", "$\\boxed{{{}}}$", "The answer is {}.", "`{}`", "\\({}\\)", "Answer: {}"]),
)
def test_decorations_never_change_the_number(wrong, wrapper):
    """Clean-up removes form only: a decorated integer reads as the same integer, never as another."""
    assert clean_answer(wrapper.format(wrong)) == str(wrong)
    grouped = f"{wrong:,}"
    assert clean_answer(wrapper.format(grouped)) == str(wrong)
