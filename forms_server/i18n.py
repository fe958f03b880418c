"""The interface's own words in each language, and which language a person gets.

Form texts (labels, hints, choices) come from the form file; this module holds
only what the application itself says: buttons, headings, built-in messages.
A message is looked up by its English text, so templates stay readable
(``t("Submit")``) and a missing translation shows English, never a key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Protocol

__all__ = ["LANGUAGE_NAMES", "MESSAGES", "Translate", "pick_language", "translator"]

#: Each language's name in itself, for the language switch.
LANGUAGE_NAMES: Mapping[str, str] = {
    "zh-Hans": "简体中文",
    "zh-Hant": "繁體中文",
    "en": "English",
    "mn": "Монгол",
    "ug": "ئۇيغۇرچە",
    "bo": "བོད་ཡིག",
}

#: English text -> {language tag: translation}. Placeholders in braces: ``{n}``.
MESSAGES: Mapping[str, Mapping[str, str]] = {
    # page frame
    "Outreach forms": {"zh-Hans": "外来务工人员服务表单"},
    "Forms": {"zh-Hans": "表单"},
    "Language": {"zh-Hans": "语言"},
    "Skip to the form": {"zh-Hans": "跳到表单"},
    # sign-in
    "Sign in": {"zh-Hans": "登录"},
    "Sign out": {"zh-Hans": "退出"},
    "User name": {"zh-Hans": "用户名"},
    "Password": {"zh-Hans": "密码"},
    "Signed in as {name}.": {"zh-Hans": "当前登录：{name}。"},
    "Wrong user name or password.": {"zh-Hans": "用户名或密码不正确。"},
    "Too many failed sign-ins. Wait 15 minutes and try again.": {
        "zh-Hans": "登录失败次数过多，请 15 分钟后再试。"
    },
    # form page
    "Submit": {"zh-Hans": "提交"},
    "required": {"zh-Hans": "必答"},
    "Please correct the answers marked below": {"zh-Hans": "请修改下面标出的问题"},
    "{n} answers need attention": {"zh-Hans": "有 {n} 处需要修改"},
    "Entry {n}": {"zh-Hans": "第 {n} 项"},
    "Add an entry": {"zh-Hans": "添加一项"},
    "Remove entry {n}": {"zh-Hans": "删除第 {n} 项"},
    "Remove this entry and its answers?": {"zh-Hans": "删除这一项及其中填写的内容？"},
    "Choose…": {"zh-Hans": "请选择…"},
    "Show the questions that follow": {"zh-Hans": "显示后续问题"},
    "Place {n}": {"zh-Hans": "第 {n} 位"},
    "Move up": {"zh-Hans": "上移"},
    "Move down": {"zh-Hans": "下移"},
    "Keep this order": {"zh-Hans": "就按这个顺序"},
    "Clear": {"zh-Hans": "清除"},
    "Not ranked yet": {"zh-Hans": "尚未排序"},
    "Get location": {"zh-Hans": "获取位置"},
    "Finding the location…": {"zh-Hans": "正在获取位置…"},
    "The location could not be found. Type it in, or try again outdoors.": {
        "zh-Hans": "无法获取位置。请手动填写，或到室外再试。"
    },
    "Latitude and longitude, e.g. 39.9042 116.4074": {
        "zh-Hans": "纬度和经度，用空格分开，如 39.9042 116.4074"
    },
    "Uploaded: {name}": {"zh-Hans": "已上传：{name}"},
    "Choosing a file again replaces it.": {"zh-Hans": "重新选择文件会替换它。"},
    "Take a photo of the signature on paper.": {"zh-Hans": "请在纸上签名后拍照上传。"},
    "Confirm": {"zh-Hans": "确认"},
    # built-in messages (the same words as validation's)
    "This question is required": {"zh-Hans": "此题必答"},
    "This answer is not allowed": {"zh-Hans": "答案不符合要求"},
    "Enter a whole number": {"zh-Hans": "请填写整数"},
    "Enter a number": {"zh-Hans": "请填写数字"},
    "Enter a number from {start} to {end}": {"zh-Hans": "请填写 {start} 到 {end} 之间的数"},
    "Enter a location as latitude longitude": {"zh-Hans": "请按 纬度 经度 填写有效的位置"},
    "Needs at least {n} entries": {"zh-Hans": "至少需要 {n} 条"},
    "Allows at most {n} entries": {"zh-Hans": "最多 {n} 条"},
    # sending
    "Sending…": {"zh-Hans": "正在提交…"},
    "Could not reach the server. Your answers are still on this page: "
    "submit again when you have a signal.": {
        "zh-Hans": "无法连接服务器。答案仍保留在本页，有信号时请再次提交。"
    },
    "This form was already sent with different answers. Ask your supervisor before "
    "sending it again.": {
        "zh-Hans": "这份表单已经提交过，内容与现在不同。再次提交前请先联系督导。"
    },
    "The server could not save the form (error {status}). Please try again.": {
        "zh-Hans": "服务器未能保存表单（错误 {status}），请再试一次。"
    },
    # drafts and the offline queue (offline.js)
    "Waiting to be sent: {n}": {"zh-Hans": "待发送：{n} 份"},
    "last sent {time}": {"zh-Hans": "上次发送：{time}"},
    "Ready to use offline": {"zh-Hans": "已可离线填写"},
    "Do not clear the browser's data: the waiting forms are only on this phone.": {
        "zh-Hans": "请勿清除浏览器数据：待发送的表单只保存在这部手机上。"
    },
    "Send now": {"zh-Hans": "立即发送"},
    "Saved on this phone. It will be sent when there is a connection.": {
        "zh-Hans": "已保存在本机，有网络时会自动发送。"
    },
    "Sign in again to send the waiting forms.": {
        "zh-Hans": "请重新登录，之后待发送的表单会自动发送。"
    },
    "Unfinished forms": {"zh-Hans": "未填完的表单"},
    "Started {time}": {"zh-Hans": "开始于 {time}"},
    "Continue": {"zh-Hans": "继续填写"},
    "Discard": {"zh-Hans": "删除"},
    "Discard this unfinished form? Its answers will be lost.": {
        "zh-Hans": "删除这份未填完的表单？其中的答案将丢失。"
    },
    "Needs correction": {"zh-Hans": "需要修改"},
    "Open": {"zh-Hans": "打开"},
    "Remove from this phone": {"zh-Hans": "从本机移除"},
    "This form has not reached the server. Remove it from this phone anyway?": {
        "zh-Hans": "这份表单还没有送到服务器。仍要从本机移除吗？"
    },
    "This form is open in another window, so it cannot be changed here.": {
        "zh-Hans": "这份表单正在另一个窗口中填写，这里不能修改。"
    },
    "Fill it in here": {"zh-Hans": "改在这里填写"},
    # done page
    "Thank you": {"zh-Hans": "谢谢"},
    "The form has been received.": {"zh-Hans": "表单已经收到。"},
    "Submission number": {"zh-Hans": "提交编号"},
    "Fill in another": {"zh-Hans": "再填一份"},
    "All forms": {"zh-Hans": "全部表单"},
    # staff's pages and the collector's home
    "Menu": {"zh-Hans": "菜单"},
    "Home": {"zh-Hans": "首页"},
    "Submissions": {"zh-Hans": "提交记录"},
    "Audit log": {"zh-Hans": "操作日志"},
    "Research data": {"zh-Hans": "研究数据"},
    "Review submissions": {"zh-Hans": "审核提交记录"},
    "{n} in all": {"zh-Hans": "共 {n} 份"},
    "{n} submissions": {"zh-Hans": "{n} 份提交"},
    "More than {n} submissions": {"zh-Hans": "超过 {n} 份提交"},
    "{n} entries": {"zh-Hans": "{n} 条记录"},
    "Review status": {"zh-Hans": "审核状态"},
    "Any": {"zh-Hans": "全部"},
    "Anyone": {"zh-Hans": "所有人"},
    "Collector": {"zh-Hans": "填报人"},
    "(anonymous)": {"zh-Hans": "（匿名）"},
    "Dates": {"zh-Hans": "日期"},
    "Which date": {"zh-Hans": "按哪个日期"},
    "Received": {"zh-Hans": "收到"},
    "Completed": {"zh-Hans": "填完"},
    "Started": {"zh-Hans": "开始填写"},
    "From": {"zh-Hans": "从"},
    "To": {"zh-Hans": "到"},
    "Search names and answers": {"zh-Hans": "搜索名称和答案"},
    "Filter": {"zh-Hans": "筛选"},
    "Clear filters": {"zh-Hans": "清除筛选"},
    "No submissions match.": {"zh-Hans": "没有符合条件的提交。"},
    "Pages": {"zh-Hans": "翻页"},
    "Newest": {"zh-Hans": "最新"},
    "Newer": {"zh-Hans": "较新"},
    "Older": {"zh-Hans": "较早"},
    "Edit the answers": {"zh-Hans": "修改答案"},
    "PDF": {"zh-Hans": "PDF"},
    "Review": {"zh-Hans": "审核"},
    "No review yet.": {"zh-Hans": "尚未审核。"},
    "set the status to": {"zh-Hans": "将状态改为"},
    "New review status": {"zh-Hans": "新的审核状态"},
    "Comment (optional)": {"zh-Hans": "备注（可不填）"},
    "Save the review": {"zh-Hans": "保存审核"},
    "Answers": {"zh-Hans": "答案"},
    "No answers.": {"zh-Hans": "没有答案。"},
    "sensitive": {"zh-Hans": "敏感"},
    "Confirmed": {"zh-Hans": "已确认"},
    "Made with version {v} of the form; labels are those of the current version.": {
        "zh-Hans": "按表单第 {v} 版填写；题目文字为当前版本。"
    },
    "Details": {"zh-Hans": "详细信息"},
    "Form": {"zh-Hans": "表单"},
    "version {v}": {"zh-Hans": "第 {v} 版"},
    "Edit history": {"zh-Hans": "修改记录"},
    "edited by {name}": {"zh-Hans": "{name} 修改"},
    "Not edited.": {"zh-Hans": "没有修改过。"},
    "Question": {"zh-Hans": "问题"},
    "Before": {"zh-Hans": "修改前"},
    "After": {"zh-Hans": "修改后"},
    "(no answer)": {"zh-Hans": "（未填）"},
    "Action": {"zh-Hans": "操作"},
    "Time": {"zh-Hans": "时间"},
    "Who": {"zh-Hans": "操作人"},
    "What": {"zh-Hans": "对象"},
    "Address": {"zh-Hans": "地址"},
    "To correct": {"zh-Hans": "需要修改"},
    "Your submissions of the last {n} days": {"zh-Hans": "你最近 {n} 天的提交"},
    "You have sent nothing in the last {n} days.": {"zh-Hans": "最近 {n} 天你没有提交过表单。"},
}

#: Regions whose Chinese is written in Simplified or in Traditional characters.
_SIMPLIFIED_REGIONS = frozenset({"cn", "sg", "my"})
_TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo"})
_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")


class Translate(Protocol):
    """``t("Entry {n}", n=2)``: the text in the page's language, placeholders filled."""

    def __call__(self, text: str, /, **params: object) -> str: ...


@lru_cache(maxsize=32)
def translator(lang: str) -> Translate:
    """The translating function for ``lang``; other scripts of Chinese use zh-Hans's words.

    An unknown text is returned as given (English), with its placeholders filled.
    """
    chain = _fallbacks(lang)

    def t(text: str, /, **params: object) -> str:
        translations = MESSAGES.get(text, {})
        found = next((translations[tag] for tag in chain if tag in translations), text)
        return found.format_map(params) if params else found

    return t


def pick_language(
    requested: str | None, accept_language: str | None, available: Sequence[str]
) -> str:
    """The language to show, one of ``available`` (the form's languages, default first).

    ``requested`` (``?lang=``, a form field) wins when it matches; then the browser's
    ``Accept-Language`` in order of preference; else the form's default language.
    Region and script tags are matched to what the form has: ``zh-CN``, ``zh-SG``,
    ``zh-Hans-CN`` give ``zh-Hans``; ``zh-TW``, ``zh-HK``, ``zh-Hant-TW`` give
    ``zh-Hant`` when the form has it, else ``zh-Hans``; ``en-GB`` gives ``en``.
    """
    if not available:
        raise ValueError("a form has at least one language")
    if requested:
        found = _match(requested.strip(), available)
        if found:
            return found
    for tag in _accepted(accept_language or ""):
        found = _match(tag, available)
        if found:
            return found
    return available[0]


def _fallbacks(lang: str) -> tuple[str, ...]:
    if lang.lower().startswith("zh"):
        return (lang, "zh-Hans")
    return (lang,)


def _accepted(header: str) -> list[str]:
    """Accept-Language tags, most preferred first; ``q=0`` and ``*`` left out."""
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip()
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and tag != "*" and weight > 0:
            weighted.append((-weight, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def _match(tag: str, available: Sequence[str]) -> str | None:
    """The tag of ``available`` that ``tag`` asks for, if any."""
    if not _TAG.fullmatch(tag):
        return None
    by_lower = {a.lower(): a for a in available}
    lowered = tag.lower().replace("_", "-")
    if lowered in by_lower:
        return by_lower[lowered]
    parts = lowered.split("-")
    if parts[0] == "zh":
        script = _chinese_script(parts[1:])
        candidates = ["zh-hant", "zh-hans"] if script == "hant" else ["zh-hans", "zh-hant"]
        for candidate in candidates:
            if candidate in by_lower:
                return by_lower[candidate]
        return by_lower.get("zh")
    for available_tag in available:
        if available_tag.lower().split("-")[0] == parts[0]:
            return available_tag
    return None


def _chinese_script(subtags: list[str]) -> str:
    """``hans`` or ``hant`` for the subtags after ``zh`` (Simplified unless told otherwise)."""
    for subtag in subtags:
        if subtag in ("hans", "hant"):
            return subtag
        if subtag in _TRADITIONAL_REGIONS:
            return "hant"
        if subtag in _SIMPLIFIED_REGIONS:
            return "hans"
    return "hans"
