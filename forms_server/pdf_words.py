"""The PDFs' own words in Simplified Chinese and English (form texts come from the forms)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

#: The PDFs' own words, English -> Simplified Chinese (form texts come from the form).
WORDS: Mapping[str, str] = {
    "Submission ID": "提交编号",
    "Form": "表单",
    "version": "版本",
    "current version": "当前版本",
    "Collected by": "填写人",
    "Started": "开始填写",
    "Completed": "填写完成",
    "Received": "收到时间",
    "Review status": "审核状态",
    "Printed": "打印时间",
    "times in {zone}": "时间均为 {zone} 时间",
    "Answers": "回答",
    "No answers.": "没有回答。",
    "Answers to questions no longer in the form": "表单中已删除的问题的回答",
    "Review": "审核",
    "When": "时间",
    "Who": "操作人",
    "Status": "状态",
    "Comment": "意见",
    "Edit history": "修改记录",
    "answers changed: {n}": "修改了 {n} 个回答",
    "… and {n} more": "……另有 {n} 处",
    "{n} earlier edits not listed": "另有 {n} 次较早的修改未列出",
    "{n} entries": "{n} 条",
    "Entry {n}": "第 {n} 条",
    "Attachment not available": "附件不可用",
    "Summary report": "汇总报告",
    "Submissions": "提交数",
    "{n} submissions": "共 {n} 份提交",
    "Period": "时间范围",
    "all dates": "全部日期",
    "from {start}": "{start} 起",
    "until {end}": "至 {end}",
    "{start} to {end}": "{start} 至 {end}",
    "(by date of completion)": "（按填写完成日期）",
    "Review status: {status}": "审核状态：{status}",
    "Only where": "仅限",
    "all review states": "全部审核状态",
    "Answered by {n}": "{n} 人回答",
    "{n} entries answered": "{n} 条回答",
    "not answered: {n}": "未回答：{n}",
    "Choice": "选项",
    "Count": "人数",
    "Share": "比例",
    "share of those who answered; several answers possible": "占回答者的比例；可多选",
    "share of those who answered": "占回答者的比例",
    "mean": "平均",
    "median": "中位数",
    "min": "最小",
    "max": "最大",
    "per week (from Monday)": "每周（自周一起）",
    "per month": "每月",
    "per year": "每年",
    "No submissions match.": "没有符合条件的提交。",
    "No answers to summarise.": "没有可以汇总的回答。",
    "in repeat: {name}": "重复项：{name}",
    "Free-text and sensitive answers are not included.": (
        "本报告不含自由文字回答和敏感（个人）信息。"
    ),
    "Generated": "生成时间",
    "{n} other choices: nobody chose them": "另有 {n} 个选项无人选择",
    # the staff's pages
    "PDF downloads": "PDF 下载",
    "Times are dates of completion.": "日期按填写完成的日期计。",
    "From": "从",
    "To": "到",
    "any": "不限",
    "Language": "语言",
    "both languages": "中英对照",
    "Counts, shares, averages and charts of the answers; no free text, no personal data.": (
        "各题的人数、比例、平均数和图表；不含自由文字和个人信息。"
    ),
    "Download the summary": "下载汇总报告",
    "Every submission as PDF": "每份提交的 PDF",
    "One record per submission, with personal data. Made in the background: large batches "
    "take a few minutes.": "每份提交一份记录，含个人信息。在后台生成，数量多时需要几分钟。",
    "one merged PDF": "合并为一个 PDF",
    "a ZIP of single PDFs": "每份一个 PDF，打包为 ZIP",
    "Start": "开始生成",
    "Batch of PDFs": "批量 PDF",
    "submissions": "份",
    "Making the PDFs…": "正在生成……",
    "Ready.": "已完成。",
    "Failed:": "失败：",
    "Download": "下载",
    "Contains personal data: keep it safe.": "含个人信息，请妥善保管。",
    "Back": "返回",
}


def vocabulary(langs: Sequence[str]) -> Callable[..., str]:
    """``w("Entry {n}", n=2)``: the PDF's words in ``langs``, joined by " / " when several."""

    def w(text: str, /, **params: object) -> str:
        found = []
        for lang in langs:
            word = WORDS.get(text, text) if lang.startswith("zh") else text
            word = word.format_map(params) if params else word
            if word not in found:
                found.append(word)
        return " / ".join(found)

    return w
